// Drives `ward ui` in Debian's headless Chromium through puppeteer-core
// (tests/e2e/ui.sh sets the world up): browse the offers, create offers
// through the form, deploy a service with one click, chat with streamed
// tokens, see the verification panel go red for an engine pin that does not
// match, stop the service and see its report verified. Saves a screenshot of
// each stage. usage: node ui_browser.js URL SHOTS_DIR ENGINE_RES MODEL_FILE
'use strict';
const puppeteer = require('puppeteer-core');
const path = require('path');
const fs = require('fs');

const [url, shots, engineRes, modelPath] = process.argv.slice(2);
const engineDigest = JSON.parse(fs.readFileSync(engineRes)).resource.engine;

function fail(message) {
  throw new Error(message);
}
function ok(message) {
  console.log('ok: ' + message);
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: 'new',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1360, height: 900 },
  });
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 409/.test(m.text())) problems.push('console: ' + m.text()); });
  const shot = async (name) => {
    const file = path.join(shots, name + '.png');
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  try {
    await page.goto(url, { waitUntil: 'networkidle0' });
    if (page.url().includes('token=')) fail('the token stays in the address bar: ' + page.url());
    const stored = await page.evaluate(() => sessionStorage.getItem('ward.token'));
    if (!stored || !url.includes(stored)) fail('the token did not move to sessionStorage');

    // Marketplace: the ledger's offers, with owners and prices.
    await page.waitForSelector('#offers-table tbody tr[data-offer]');
    const rows = await page.$$eval('#offers-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
    const tee = rows.find((r) => r[1] === 'TEE');
    if (!tee || !tee[3].includes('provider') || !/\d+ per hour/.test(tee[4])) fail('no TEE offer with its owner and price: ' + JSON.stringify(rows));
    const dataset = rows.find((r) => r[1] === 'Dataset');
    if (!dataset || !dataset[3].includes('clinic') || !dataset[4].includes('fixed')) fail('no dataset offer by the clinic: ' + JSON.stringify(rows));
    if (!/1 CVM/.test(tee[5])) fail('the TEE offer does not show its CVM: ' + tee[5]);
    ok(`marketplace lists ${rows.length} offers from the ledger with owners and prices`);
    await shot('01-marketplace');

    // Create the engine and model offers through the form.
    const createOffer = async (kind, name, source, model, amount) => {
      await page.select('#offer-form select[name=kind]', kind);
      await page.$eval('#offer-form input[name=name]', (e) => { e.value = ''; });
      await page.type('#offer-form input[name=name]', name);
      await page.select('#offer-form select[name=price_model]', model);
      await page.$eval('#offer-form input[name=amount]', (e) => { e.value = ''; });
      await page.type('#offer-form input[name=amount]', String(amount));
      if (source.descriptor) {
        const input = await page.$('#offer-form input[name=descriptor]');
        await input.uploadFile(source.descriptor);
      } else {
        await page.type('#offer-form input[name=path]', source.path);
      }
      await page.$eval('#offer-result', (e) => { e.textContent = ''; e.className = 'result'; });
      await page.click('#offer-form button[type=submit]');
      await page.waitForFunction(() => {
        const r = document.getElementById('offer-result');
        return r.classList.contains('ok') || r.classList.contains('error');
      }, { timeout: 15000 });
      const result = await page.$eval('#offer-result', (e) => e.textContent);
      if (!/^Offer \d+ created/.test(result)) fail(`creating the ${kind} offer: ${result}`);
      await page.waitForFunction((n) => [...document.querySelectorAll('#offers-table td')].some((td) => td.textContent === n), {}, name);
    };
    await createOffer('engine', 'llama.cpp server', { descriptor: engineRes }, 'fixed', 3);
    await createOffer('model', 'stories-260K', { path: modelPath }, 'revenue_share', 2500);
    const uploaded = await page.$eval('#offer-result', (e) => e.textContent);
    const bar = await page.$eval('#upload-progress', (e) => e.value);
    if (!/Offer \d+ created: 1\.\d MiB, sha256 [0-9a-f]{16}…, encrypted to your key/.test(uploaded) || bar !== 1)
      fail(`the upload did not show its progress: ${uploaded} (bar at ${bar})`);
    const digestShown = await page.$$eval('#offers-table td span.mono', (s) => s.map((x) => x.title));
    if (!digestShown.includes(engineDigest)) fail('the engine offer does not show its digest');
    ok('offers created through the form: the engine from its descriptor, the model uploaded from its path with progress (' + uploaded + ')');
    await shot('02-offers-created');

    // Deploy: one click, progress shown until the service verified.
    await page.click('nav a[data-view=deploy]');
    await page.waitForSelector('#deploy-form select[name=engine_offer] option');
    const pick = async (select, name) => {
      const value = await page.$eval(select, (s, n) => [...s.options].find((o) => o.textContent.includes(n))?.value, name);
      if (!value) fail(`no ${name} in ${select}`);
      await page.select(select, value);
    };
    await pick('#deploy-form select[name=engine_offer]', 'llama.cpp server');
    await pick('#deploy-form select[name=model_offer]', 'stories-260K');
    await page.$eval('#deploy-form input[name=deposit]', (e) => { e.value = '20'; });
    await page.click('#deploy-button');
    await page.waitForSelector('#deploy-steps li.step.running, #deploy-steps li.step.done', { timeout: 10000 });
    await shot('03-deploy-progress');
    const seen = new Set();
    const deadline = Date.now() + 150000;
    for (;;) {
      const states = await page.$$eval('#deploy-steps li', (lis) => lis.map((li) => li.dataset.state));
      states.forEach((s, i) => seen.add(`${i}:${s}`));
      if (states.includes('failed')) fail('deploy failed: ' + (await page.$eval('#deploy-result', (e) => e.textContent)));
      if (states.length && states.every((s) => s === 'done')) break;
      if (Date.now() > deadline) fail('deploy did not finish: ' + JSON.stringify(states));
      await new Promise((r) => setTimeout(r, 100));
    }
    if (![...seen].some((s) => s.endsWith(':running'))) fail('no step was ever shown running');
    await page.waitForSelector('#deploy-chat:not(.hidden)');
    const deployed = await page.$eval('#deploy-result', (e) => e.textContent);
    const order = Number((deployed.match(/Service order (\d+)/) || [])[1]);
    if (!order) fail('no order in: ' + deployed);
    ok(`deployed service order ${order} with one click; every step shown: ${deployed}`);
    await shot('04-deployed');

    // Chat: the verification panel all green, SIMULATED shown plainly.
    await page.click('#deploy-chat');
    await page.waitForFunction(() => document.getElementById('verify-verdict').textContent === 'verified', { timeout: 15000 });
    const checks = await page.$$eval('#checks li.check[data-check]', (lis) => lis.map((li) => ({ name: li.dataset.check, ok: li.dataset.ok })));
    const groups = await page.$$eval('#checks li.check.group', (lis) => lis.map((li) => li.className));
    if (groups.length !== 2 || groups.some((c) => !c.includes(' ok'))) fail('the evidence and policy groups are not green: ' + JSON.stringify(groups));
    for (const name of ['tls.chain', 'cert.chain', 'service.order', 'service.engine', 'service.inputs', 'service.key']) {
      const c = checks.find((x) => x.name === name);
      if (!c || c.ok !== 'true') fail(`check ${name} is not green: ${JSON.stringify(checks)}`);
    }
    if (checks.some((c) => c.ok !== 'true')) fail('a check is not green: ' + JSON.stringify(checks));
    const platform = await page.$eval('#platform', (e) => e.textContent);
    if (!platform.includes('SIMULATED')) fail('the platform is not shown as SIMULATED: ' + platform);
    ok(`verification panel: ${checks.length} checks green, platform shown as SIMULATED`);

    // Completion mode (the test model has no chat template); tokens stream.
    await page.click('#mode-toggle button[data-mode=completion]');
    // Enough tokens that the stream lasts long enough to be seen arriving:
    // the test model writes thousands of tokens a second.
    await page.$eval('#max-tokens', (e) => { e.value = '1500'; });
    await page.type('#prompt', 'Once upon a time');
    // Every change of the reply as the page renders it, recorded in the page:
    // a small model streams faster than a test can poll.
    await page.evaluate(() => {
      window.lengths = [];
      new MutationObserver(() => {
        const m = document.querySelector('#transcript .msg.assistant:last-child');
        if (!m) return;
        const n = m.querySelector('.msg-body').textContent.length;
        const last = window.lengths[window.lengths.length - 1];
        if (m.dataset.done !== '1' && n !== last) window.lengths.push(n);
      }).observe(document.getElementById('transcript'), { subtree: true, childList: true, characterData: true });
    });
    await page.click('#send-button');
    let midShot = null;
    const chatDeadline = Date.now() + 60000;
    for (;;) {
      const m = await page.$eval('#transcript .msg.assistant:last-child', (e) => ({ text: e.querySelector('.msg-body').textContent, done: e.dataset.done === '1', error: e.classList.contains('error') }));
      if (m.error) fail('completion failed: ' + m.text);
      if (m.done) break;
      if (!midShot && m.text.length > 'Once upon a time'.length) midShot = await shot('05-streaming');
      if (Date.now() > chatDeadline) fail('the completion did not end');
      await new Promise((r) => setTimeout(r, 10));
    }
    const lengths = await page.evaluate(() => window.lengths);
    const reply = await page.$eval('#transcript .msg.assistant:last-child .msg-body', (e) => e.textContent);
    const growing = lengths.filter((n) => n > 'Once upon a time'.length && n < reply.length);
    if (growing.length < 2) fail('the text did not grow across two observations before the stream ended: ' + JSON.stringify(lengths));
    ok(`tokens streamed: the reply was rendered at ${growing.length} lengths before the end (${JSON.stringify(growing.slice(0, 6))}…), ${reply.length} characters in all`);
    await shot('06-chat');

    // An engine pin that does not match: red, and chat refused.
    const wrong = 'sha256:' + [...engineDigest.slice(7)].reverse().join('');
    await page.$eval('#pin-engine', (e, v) => { e.value = v; }, wrong);
    await page.click('#connect-button');
    await page.waitForFunction(() => document.getElementById('verify-verdict').textContent === 'rejected', { timeout: 15000 });
    const engineCheck = await page.$eval('#checks li[data-check="service.engine"]', (li) => ({ ok: li.dataset.ok, cls: li.className, text: li.textContent }));
    if (engineCheck.ok !== 'false' || !engineCheck.cls.includes('bad')) fail('the engine check is not red: ' + JSON.stringify(engineCheck));
    const disabled = await page.$eval('#send-button', (b) => b.disabled);
    if (!disabled) fail('chat is still enabled after the engine pin failed');
    const refused = await page.evaluate(async (o) => {
      const r = await fetch(`/api/services/${o}/v1/completions`, {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + sessionStorage.getItem('ward.token'), 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'x', stream: true }),
      });
      return r.status;
    }, order);
    if (refused !== 409) fail('a chat request after the failed pin got ' + refused);
    ok('an engine pin that does not match: service.engine red, chat refused (409)');
    await shot('07-engine-pin-mismatch');

    // Orders: stop the service; its final report, verified by the local process.
    await page.click('nav a[data-view=orders]');
    await page.waitForSelector(`.order[data-order="${order}"] button[data-stop]`);
    await shot('08-orders-serving');
    await page.click(`.order[data-order="${order}"] button[data-stop]`);
    const reportDeadline = Date.now() + 60000;
    for (;;) {
      await page.click('#orders-refresh');
      await new Promise((r) => setTimeout(r, 700));
      const text = await page.$eval(`.order[data-order="${order}"]`, (e) => e.textContent);
      if (text.includes('report verified')) break;
      if (text.includes('report rejected')) fail('the report was rejected: ' + text);
      if (Date.now() > reportDeadline) fail('no verified report: ' + text);
    }
    await page.click(`.order[data-order="${order}"] details summary`);
    const reportText = await page.$eval(`.order[data-order="${order}"]`, (e) => e.textContent);
    if (!reportText.includes('SIMULATED')) fail('the report does not say SIMULATED');
    if (!/receipts: [1-9]\d*, [1-9]\d* requests/.test(reportText) || !reportText.includes('matches receipts'))
      fail('the usage is not shown next to the receipts: ' + reportText);
    ok(`service order ${order} stopped; its report verified in the page: ${reportText.match(/report verified[^✓]*/)[0].trim()}`);
    await shot('09-orders-report');

    if (problems.length) fail(problems.join('\n'));
  } catch (e) {
    await shot('failure').catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => { console.error('FAIL: ' + e.message); process.exit(1); });
