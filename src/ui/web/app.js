// The page of `ward ui`: a view. It holds no key and checks nothing itself;
// the local ward process signs, verifies and proxies (docs/ui.md). Every
// text from the ledger or a service is put in the page as text, never HTML.
'use strict';

const state = {
  token: null,
  session: null,
  offers: [],
  orders: [],
  mode: 'chat',
  service: null, // the order id chat is connected to
  history: [],
  pending: null, // pins to fill in when chat opens after a deploy
};

function takeToken() {
  const match = location.hash.match(/token=([0-9a-f]{64})/);
  if (match) {
    sessionStorage.setItem('ward.token', match[1]);
    history.replaceState(null, '', location.pathname + '#market');
  }
  state.token = sessionStorage.getItem('ward.token');
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('data-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function short(hex, n = 12) {
  return hex && hex.length > n ? hex.slice(0, n) + '…' : hex || '';
}

async function api(path, body) {
  const headers = { Authorization: 'Bearer ' + state.token };
  const init = { method: 'GET', headers };
  if (body !== undefined) {
    init.method = 'POST';
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ? data.error.message : `${response.status} ${response.statusText}`);
  return data;
}

function showBanner(text, kind) {
  const banner = document.getElementById('banner');
  banner.textContent = text;
  banner.className = 'banner ' + (kind || '');
}

// Views

function show(view) {
  for (const section of document.querySelectorAll('.view')) section.classList.toggle('hidden', section.id !== 'view-' + view);
  for (const link of document.querySelectorAll('#nav a')) link.classList.toggle('active', link.dataset.view === view);
  if (view === 'market' || view === 'deploy') loadOffers();
  if (view === 'orders' || view === 'chat') loadOrders();
}

function route() {
  const view = (location.hash || '#market').slice(1);
  show(['market', 'deploy', 'chat', 'orders'].includes(view) ? view : 'market');
}

async function loadSession() {
  try {
    const s = await api('/api/session');
    const first = !state.session;
    state.session = s;
    const account = document.getElementById('account');
    account.replaceChildren(
      el('span', { class: 'name', text: s.name || 'unregistered' }),
      el('span', { class: 'mono muted', text: short(s.account, 10) }),
      el('span', { class: 'balance', text: s.registered ? `${s.balance} tokens` : '' }));
    account.title = s.account;
    if (s.allow_simulated && first) {
      showBanner('The attestation policy accepts SIMULATED TEEs: nothing here is hardware-protected. For development only.', 'warn');
    }
  } catch (e) {
    showBanner(e.message, 'error');
  }
}

// Marketplace

const kindLabel = { engine: 'Engine', model: 'Model', dataset: 'Dataset', tee: 'TEE' };

function details(offer) {
  if (offer.kind === 'tee') return `${offer.cvms} CVM${offer.cvms === 1 ? '' : 's'} · ${offer.resource}`;
  const d = offer.descriptor;
  if (d && d.engine) return el('span', { class: 'mono', text: short(d.engine, 23), title: d.engine });
  if (d) return el('span', {}, el('span', { class: 'mono', text: 'sha256 ' + short(d.sha256, 12), title: d.sha256 }), ` · ${formatBytes(d.size)}`);
  return el('span', { class: 'mono muted', text: short(offer.resource, 40), title: offer.resource });
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

async function loadOffers() {
  try {
    const { offers } = await api('/api/offers');
    state.offers = offers;
    renderOffers();
    renderDeployChoices();
  } catch (e) {
    showBanner(e.message, 'error');
  }
}

function renderOffers() {
  const body = document.querySelector('#offers-table tbody');
  body.replaceChildren(...state.offers.map((o) => el('tr', { 'data-offer': String(o.id) },
    el('td', { class: 'mono', text: o.id }),
    el('td', {}, el('span', { class: 'kind kind-' + o.kind, text: kindLabel[o.kind] || o.kind })),
    el('td', { class: 'strong', text: o.name }),
    el('td', {}, el('span', { text: o.owner_name || 'unnamed' }), ' ', el('span', { class: 'mono muted', text: short(o.owner, 8), title: o.owner }),
      o.mine ? el('span', { class: 'tag', text: 'you' }) : null),
    el('td', { class: 'price', text: o.price_text }),
    el('td', {}, details(o)),
    el('td', {}, el('span', { class: 'pill ' + (o.enabled ? 'ok' : 'off'), text: o.enabled ? 'open' : 'closed' })))));
  if (!state.offers.length) body.append(el('tr', {}, el('td', { colSpan: 7, class: 'muted', text: 'No offers on the ledger yet.' })));
}

async function createOffer(event) {
  event.preventDefault();
  const form = event.target;
  const result = document.getElementById('offer-result');
  const model = form.price_model.value;
  const amount = Number(form.amount.value);
  const body = {
    kind: form.kind.value,
    name: form.name.value,
    price: model === 'revenue_share' ? { model, bps: amount } : { model, amount },
  };
  const file = form.descriptor.files[0];
  const path = form.path.value.trim();
  if (path) return uploadAndOffer(form, { ...body, path });
  if (file) body.descriptor = await file.text();
  else body.resource = form.resource.value;
  result.className = 'result';
  result.textContent = 'Signing and submitting…';
  try {
    const r = await api('/api/offers', body);
    result.className = 'result ok';
    result.textContent = `Offer ${r.offer} created.`;
    form.reset();
    loadOffers();
  } catch (e) {
    result.className = 'result error';
    result.textContent = e.message;
  }
}

// A long upload, shown as it goes: the local process encrypts and uploads,
// then signs the offer.
async function uploadAndOffer(form, body) {
  const result = document.getElementById('offer-result');
  const bar = document.getElementById('upload-progress');
  bar.value = 0;
  bar.classList.remove('hidden');
  result.className = 'result';
  result.textContent = 'Encrypting and uploading…';
  try {
    const { job } = await api('/api/uploads', body);
    for (;;) {
      const j = await api('/api/jobs/' + job);
      const step = j.steps.find((s) => s.state === 'running' || s.state === 'failed') || j.steps[j.steps.length - 1];
      if (j.steps[0].fraction !== undefined) bar.value = j.steps[0].fraction;
      result.textContent = `${step.name}: ${step.detail}`;
      if (j.done) {
        if (j.error) throw new Error(j.error);
        bar.value = 1;
        result.className = 'result ok';
        result.textContent = `Offer ${j.offer} created: ${j.steps[0].detail}.`;
        form.reset();
        loadOffers();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (e) {
    result.className = 'result error';
    result.textContent = e.message;
  } finally {
    setTimeout(() => bar.classList.add('hidden'), 1500);
  }
}

// Deploy

function renderDeployChoices() {
  const form = document.getElementById('deploy-form');
  const fill = (select, kind) => {
    const kept = select.value;
    select.replaceChildren(...state.offers.filter((o) => o.kind === kind && o.enabled).map((o) =>
      el('option', { value: String(o.id), text: `#${o.id} ${o.name} — ${o.owner_name || short(o.owner, 8)} — ${o.price_text}` })));
    if ([...select.options].some((opt) => opt.value === kept)) select.value = kept;
  };
  fill(form.engine_offer, 'engine');
  fill(form.model_offer, 'model');
  fill(form.tee_offer, 'tee');
}

function renderSteps(job) {
  const list = document.getElementById('deploy-steps');
  list.replaceChildren(...job.steps.map((s) => el('li', { class: 'step ' + s.state, 'data-state': s.state },
    el('span', { class: 'dot' }), el('span', { class: 'step-name', text: s.name }), el('span', { class: 'step-detail', text: s.detail }))));
  document.getElementById('deploy-order').textContent = job.order ? `service order ${job.order}` : '';
}

async function deploy(event) {
  event.preventDefault();
  const form = event.target;
  const button = document.getElementById('deploy-button');
  const result = document.getElementById('deploy-result');
  const openChat = document.getElementById('deploy-chat');
  openChat.classList.add('hidden');
  result.className = 'result';
  result.textContent = '';
  button.disabled = true;
  document.getElementById('deploy-progress').classList.remove('hidden');
  const engine = state.offers.find((o) => o.id === Number(form.engine_offer.value));
  const model = state.offers.find((o) => o.id === Number(form.model_offer.value));
  try {
    const { job } = await api('/api/deploy', {
      engine_offer: Number(form.engine_offer.value),
      model_offer: Number(form.model_offer.value),
      tee_offer: Number(form.tee_offer.value),
      deposit: Number(form.deposit.value),
    });
    for (;;) {
      const j = await api('/api/jobs/' + job);
      renderSteps(j);
      if (j.done) {
        if (j.error) throw new Error(j.error);
        result.className = 'result ok';
        result.textContent = `Service order ${j.order} is serving and verified.`;
        state.pending = {
          order: j.order,
          engine: engine && engine.descriptor ? engine.descriptor.engine : '',
          model: model && model.descriptor ? model.descriptor.sha256 : '',
          verification: j.service,
        };
        openChat.classList.remove('hidden');
        loadSession();
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  } catch (e) {
    result.className = 'result error';
    result.textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

// Chat

const checkLabels = {
  'tls.chain': 'TLS chain to the CVM',
  'cert.chain': 'CVM certificate chain',
  'ca.binding': 'Evidence binds the CVM key',
  'service.claims': 'Service certificate claims',
  'service.ledger': 'Same ledger',
  'service.order': 'Order on the ledger',
  'service.engine': 'Engine digest',
  'service.inputs': 'Model digest',
  'service.key': 'TLS key in the start report',
};
const mustShow = ['tls.chain', 'cert.chain', 'service.order', 'service.engine', 'service.inputs', 'service.key'];

function labelOf(name) {
  if (checkLabels[name]) return checkLabels[name];
  if (name.startsWith('policy.')) return 'Policy: ' + name.slice(7).replace(/\./g, ' ');
  if (name.startsWith('evidence.') || name.startsWith('quote.') || name.startsWith('tdx.')) return 'Hardware evidence: ' + name.split('.').slice(1).join(' ');
  return name;
}

function renderVerification(v) {
  const verdict = document.getElementById('verify-verdict');
  const checks = document.getElementById('checks');
  const platform = document.getElementById('platform');
  if (!v) {
    verdict.className = 'pill';
    verdict.textContent = 'not checked';
    checks.replaceChildren();
    platform.classList.add('hidden');
    return;
  }
  verdict.className = 'pill ' + (v.accepted ? 'ok' : 'bad');
  verdict.textContent = v.accepted ? 'verified' : 'rejected';
  platform.classList.remove('hidden');
  platform.className = 'platform ' + (v.simulated ? 'sim' : 'hw');
  platform.replaceChildren(el('strong', { text: v.simulated ? 'Platform: SIMULATED TEE' : 'Platform: hardware TEE' }),
    el('span', { text: v.simulated ? 'Simulated evidence, accepted only because your policy allows it. Not secure.' : 'Evidence verified to the vendor root.' }));
  const rows = v.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail }));
  for (const name of mustShow) {
    if (!rows.some((r) => r.name === name)) rows.push({ name, ok: null, detail: 'not checked: an earlier check failed' });
  }
  // The checks a user asks about each get a row; the evidence's and the
  // policy's many are grouped, opened when one of them failed.
  const row = (r) => el('li', { class: 'check ' + (r.ok === null ? 'skip' : r.ok ? 'ok' : 'bad'), 'data-check': r.name, 'data-ok': String(r.ok) },
    el('span', { class: 'icon', text: r.ok === null ? '–' : r.ok ? '✓' : '✗' }),
    el('div', {}, el('div', { class: 'check-name' }, labelOf(r.name), ' ', el('span', { class: 'mono muted small', text: r.name })),
      el('div', { class: 'check-detail', text: r.detail })));
  const group = (title, members) => {
    const ok = members.every((r) => r.ok);
    return el('li', { class: 'check group ' + (ok ? 'ok' : 'bad') },
      el('span', { class: 'icon', text: ok ? '✓' : '✗' }),
      el('details', { open: !ok }, el('summary', { class: 'check-name' }, title, ' ', el('span', { class: 'muted small', text: `${members.filter((r) => r.ok).length}/${members.length} passed` })),
        el('ul', { class: 'checks nested' }, ...members.map(row))));
  };
  const own = (r) => r.name.startsWith('service.') || ['tls.chain', 'cert.chain', 'ca.binding'].includes(r.name);
  const policy = rows.filter((r) => r.name.startsWith('policy.'));
  const evidence = rows.filter((r) => !own(r) && !r.name.startsWith('policy.'));
  const items = [];
  const order = ['tls.chain', 'cert.chain', 'ca.binding', 'service.claims', 'service.ledger', 'service.order', 'service.engine', 'service.inputs', 'service.key'];
  for (const r of rows.filter(own).sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))) {
    items.push(row(r));
    if (r.name === 'cert.chain') {
      if (evidence.length) items.push(group(v.simulated ? 'Hardware evidence (SIMULATED TEE)' : 'Hardware evidence', evidence));
      if (policy.length) items.push(group('Your attestation policy', policy));
    }
  }
  checks.replaceChildren(...items);
  document.getElementById('verify-endpoint').textContent = v.endpoint ? `${v.endpoint} · order ${v.order}` : '';
  if (!v.accepted && v.rejection) {
    const head = el('li', { class: 'check bad rejection' }, el('span', { class: 'icon', text: '!' }), el('div', { class: 'check-detail', text: v.rejection + ' — chat is refused.' }));
    checks.prepend(head);
  }
}

function servicesFrom(orders) {
  return orders.filter((o) => o.serve && o.serve.endpoint && o.status === 'processing');
}

function renderServices() {
  const select = document.getElementById('chat-service');
  const kept = state.pending ? String(state.pending.order) : select.value;
  const services = servicesFrom(state.orders);
  select.replaceChildren(...services.map((o) => el('option', { value: String(o.id), text: `order ${o.id} · ${short(o.engine, 19)} · ${o.serve.endpoint}` })));
  if (!services.length) select.append(el('option', { value: '', text: 'No running service' }));
  if ([...select.options].some((opt) => opt.value === kept)) select.value = kept;
  if (state.pending) {
    document.getElementById('pin-engine').value = state.pending.engine;
    document.getElementById('pin-model').value = state.pending.model;
    if (state.pending.verification) setConnected(state.pending.order, state.pending.verification);
    state.pending = null;
  } else if (!document.getElementById('pin-engine').value) {
    fillPinsFromOffers(select.value);
  }
}

// The pins default to what the order's offers sell, not to what the
// service itself claims: a pin is what the user expects.
function fillPinsFromOffers(orderId) {
  const order = state.orders.find((o) => String(o.id) === orderId);
  if (!order) return;
  for (const id of order.offers) {
    const offer = state.offers.find((o) => o.id === id);
    if (!offer || !offer.descriptor) continue;
    if (offer.kind === 'engine') document.getElementById('pin-engine').value = offer.descriptor.engine;
    if (offer.kind === 'model') document.getElementById('pin-model').value = offer.descriptor.sha256;
  }
}

function setConnected(order, verification) {
  renderVerification(verification);
  const ok = verification && verification.accepted;
  state.service = ok ? order : null;
  document.getElementById('prompt').disabled = !ok;
  document.getElementById('send-button').disabled = !ok;
  const transcript = document.getElementById('transcript');
  if (!ok) {
    transcript.replaceChildren(el('p', { class: 'refused', text: 'Chat refused: the service did not verify under your pins.' }));
    state.history = [];
  } else if (!transcript.querySelector('.msg')) {
    transcript.replaceChildren(el('p', { class: 'muted empty', text: `Connected to service ${order}. Tokens stream in as the model writes them.` }));
  }
}

async function connect(event) {
  event.preventDefault();
  const order = document.getElementById('chat-service').value;
  if (!order) return;
  const engine = document.getElementById('pin-engine').value.trim();
  const model = document.getElementById('pin-model').value.trim();
  const button = document.getElementById('connect-button');
  button.disabled = true;
  document.getElementById('verify-verdict').textContent = 'verifying…';
  try {
    const v = await api(`/api/services/${order}/connect`, { engine, models: model ? [model] : [] });
    state.history = [];
    document.getElementById('transcript').replaceChildren();
    setConnected(Number(order), v);
  } catch (e) {
    renderVerification(null);
    showBanner(e.message, 'error');
  } finally {
    button.disabled = false;
  }
}

function addMessage(role, text) {
  const transcript = document.getElementById('transcript');
  const empty = transcript.querySelector('.empty');
  if (empty) empty.remove();
  const body = el('div', { class: 'msg-body', text });
  const msg = el('div', { class: 'msg ' + role }, el('div', { class: 'msg-role', text: role === 'user' ? 'You' : 'Model' }), body);
  transcript.append(msg);
  transcript.scrollTop = transcript.scrollHeight;
  return { msg, body };
}

// Reads an SSE body as it arrives; calls onData with each data: payload.
async function readEvents(response, onData) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line.startsWith('data:')) {
        const data = line.slice(5).trim();
        if (data === '[DONE]') return;
        onData(data);
      }
    }
  }
}

async function send(event) {
  event.preventDefault();
  const input = document.getElementById('prompt');
  const text = input.value;
  if (!text || state.service === null) return;
  input.value = '';
  const button = document.getElementById('send-button');
  button.disabled = true;
  addMessage('user', text);
  const { msg, body } = addMessage('assistant', '');
  msg.classList.add('streaming');
  const chat = state.mode === 'chat';
  if (chat) state.history.push({ role: 'user', content: text });
  const path = `/api/services/${state.service}/v1/${chat ? 'chat/completions' : 'completions'}`;
  const maxTokens = Math.max(1, Math.min(8192, Number(document.getElementById('max-tokens').value) || 200));
  const options = { stream: true, max_tokens: maxTokens };
  const request = chat ? { messages: state.history, ...options } : { prompt: text, ...options };
  let reply = chat ? '' : text;
  if (!chat) body.textContent = reply;
  try {
    const response = await fetch(path, {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + state.token, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(request),
    });
    const type = response.headers.get('Content-Type') || '';
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.error ? (data.error.message || JSON.stringify(data.error)) : `${response.status} ${response.statusText}`);
    }
    if (type.startsWith('text/event-stream')) {
      await readEvents(response, (data) => {
        let chunk;
        try { chunk = JSON.parse(data); } catch { return; }
        const choice = chunk.choices && chunk.choices[0];
        const piece = choice ? (chat ? (choice.delta && choice.delta.content) || '' : choice.text || '') : '';
        reply += piece;
        body.textContent = reply;
        document.getElementById('transcript').scrollTop = 1e9;
      });
    } else {
      reply = JSON.stringify(await response.json(), null, 2);
      body.classList.add('mono');
      body.textContent = reply;
    }
    if (chat) state.history.push({ role: 'assistant', content: reply });
  } catch (e) {
    msg.classList.add('error');
    body.textContent = e.message;
    if (chat) state.history.pop();
  } finally {
    msg.classList.remove('streaming');
    msg.dataset.done = '1';
    button.disabled = state.service === null;
  }
}

function setMode(mode) {
  state.mode = mode;
  for (const b of document.querySelectorAll('#mode-toggle button')) b.classList.toggle('on', b.dataset.mode === mode);
  document.getElementById('prompt').placeholder = mode === 'chat' ? 'Say something' : 'Once upon a time';
}

// Orders

async function loadOrders() {
  try {
    const [{ orders }, offers] = await Promise.all([api('/api/orders'), state.offers.length ? null : api('/api/offers')]);
    if (offers) state.offers = offers.offers;
    state.orders = orders;
    loadSession();
    renderOrders();
    renderServices();
  } catch (e) {
    showBanner(e.message, 'error');
  }
}

function reportView(o) {
  const v = o.verification;
  if (!v) return el('span', { class: 'muted', text: o.status === 'processing' ? 'serving; report when it ends' : 'no report yet' });
  const ok = v.verdict === 'verified';
  const failed = v.checks.find((c) => !c.ok);
  return el('details', { class: 'report ' + (ok ? 'ok' : 'bad') },
    el('summary', {}, el('span', { class: 'pill ' + (ok ? 'ok' : 'bad'), text: ok ? 'report verified' : 'report rejected' }),
      v.simulated ? el('span', { class: 'pill sim', text: 'SIMULATED' }) : null,
      failed ? el('span', { class: 'muted small', text: ` at ${failed.name}` }) : el('span', { class: 'muted small', text: ` ${v.checks.length} checks` })),
    el('ul', { class: 'checks compact' }, ...v.checks.map((c) => el('li', { class: 'check ' + (c.ok ? 'ok' : 'bad') },
      el('span', { class: 'icon', text: c.ok ? '✓' : '✗' }), el('div', {}, el('div', { class: 'check-name mono small', text: c.name }), el('div', { class: 'check-detail', text: c.detail }))))));
}

function usageView(o) {
  const u = o.usage;
  if (!u) return null;
  if (u.error) return el('div', { class: 'muted small', text: 'usage: ' + u.error });
  if (!u.accounts || !u.accounts.length) return el('div', { class: 'muted small', text: 'No subscriber usage on the ledger.' });
  return el('div', { class: 'usage' }, ...u.accounts.map((a) => el('div', { class: 'small' },
    el('span', { class: 'mono', text: short(a.account, 10) }),
    ` ledger: ${a.requests ?? 0} requests, ${a.tokens ?? 0} tokens, charged ${a.charged ?? 0}${a.deposit ? ` of ${a.deposit}` : ''}`,
    a.receipts ? ` · receipts: ${a.receipts.count}, ${a.receipts.requests} requests, ${a.receipts.tokens} tokens` : '',
    a.overcharge ? el('span', { class: 'pill bad', text: 'overcharged: ' + a.overcharge }) : a.receipts ? el('span', { class: 'pill ok', text: 'matches receipts' }) : null)));
}

async function stopService(id) {
  try {
    await api(`/api/orders/${id}/cancel`, {});
    showBanner(`Service ${id} asked to stop; its CVM ends it with a final report.`, 'info');
    setTimeout(loadOrders, 500);
  } catch (e) {
    showBanner(e.message, 'error');
  }
}

function renderOrders() {
  const list = document.getElementById('orders-list');
  if (!state.orders.length) {
    list.replaceChildren(el('p', { class: 'muted', text: 'You have placed no orders.' }));
    return;
  }
  const rows = [...state.orders].reverse().map((o) => {
    const paid = (o.payments || []).reduce((sum, p) => sum + p.amount, 0);
    return el('div', { class: 'order', 'data-order': String(o.id) },
      el('div', { class: 'order-head' },
        el('span', { class: 'strong', text: `#${o.id}` }),
        el('span', { class: 'kind ' + (o.serve ? 'kind-model' : 'kind-dataset'), text: o.serve ? 'service' : 'batch' }),
        el('span', { class: 'pill status-' + o.status, text: o.status }),
        el('span', { class: 'mono muted small', text: short(o.engine, 23), title: o.engine }),
        el('span', { class: 'spacer' }),
        el('span', { class: 'small', text: `deposit ${o.deposit} · paid ${paid}${o.refund ? ` · refund ${o.refund}` : ''}` })),
      o.error ? el('div', { class: 'error small', text: o.error }) : null,
      o.serve && o.status === 'processing' && !o.serve.cancel_requested ? el('button', { class: 'ghost stop', text: 'Stop service', 'data-stop': String(o.id), onclick: () => stopService(o.id) }) : null,
      o.serve && o.serve.endpoint ? el('div', { class: 'small muted', text: `endpoint ${o.serve.endpoint}` }) : null,
      reportView(o),
      usageView(o));
  });
  list.replaceChildren(...rows);
}

// Start

function start() {
  takeToken();
  if (!state.token) {
    showBanner('No session token: open the URL that `ward ui` printed.', 'error');
    return;
  }
  document.getElementById('offer-form').addEventListener('submit', createOffer);
  document.getElementById('deploy-form').addEventListener('submit', deploy);
  document.getElementById('connect-form').addEventListener('submit', connect);
  document.getElementById('prompt-form').addEventListener('submit', send);
  document.getElementById('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); document.getElementById('prompt-form').requestSubmit(); }
  });
  document.getElementById('offers-refresh').addEventListener('click', loadOffers);
  document.getElementById('orders-refresh').addEventListener('click', loadOrders);
  document.getElementById('deploy-chat').addEventListener('click', () => { location.hash = '#chat'; });
  document.getElementById('chat-service').addEventListener('change', (e) => fillPinsFromOffers(e.target.value));
  for (const b of document.querySelectorAll('#mode-toggle button')) b.addEventListener('click', () => setMode(b.dataset.mode));
  window.addEventListener('hashchange', route);
  loadSession();
  route();
}

document.addEventListener('DOMContentLoaded', start);
