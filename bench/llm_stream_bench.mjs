// Streams completions from OpenAI-compatible servers and measures them side
// by side (bench/llm_vs_direct.sh). Node's own fetch is the client, so it
// costs the same whichever server it reads. Each stream generates exactly
// MAX_TOKENS tokens (ignore_eos), greedy, from the same prompt.
//
//   sequential ROUNDS: one warm-up stream per server, then ROUNDS rounds of
//     one stream per server, the servers' order rotating each round, so that
//     whatever else the machine does falls on all of them alike. Per server,
//     the medians of: time to first token (request sent to the first content
//     event); tokens/s end to end (tokens over request sent to last event);
//     generation tokens/s (events after the first over first to last event);
//     and the tokens/s that llama-server itself reports (timings).
//   concurrent SECONDS: CONCURRENCY streams at a time for SECONDS, one server
//     after the other; completed requests/s and tokens/s, and the requests
//     that failed on a connection the server closed.
//
// usage: node llm_stream_bench.mjs sequential ROUNDS MAX_TOKENS NAME=URL...
//        node llm_stream_bench.mjs concurrent SECONDS MAX_TOKENS CONCURRENCY NAME=URL...
// Prints one JSON object, keyed by NAME.
const [mode, amount, maxTokens, ...rest] = process.argv.slice(2);
const concurrency = mode === "concurrent" ? Number(rest.shift()) : 1;
const servers = rest.map((arg) => {
  const eq = arg.indexOf("=");
  return { name: arg.slice(0, eq), url: arg.slice(eq + 1) };
});
const prompt = "Once upon a time, there was a little girl named Lily. She";

async function stream(base) {
  const sent = performance.now();
  const res = await fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      prompt,
      max_tokens: Number(maxTokens),
      temperature: 0,
      ignore_eos: true,
      stream: true,
    }),
  });
  if (res.status !== 200) throw new Error(`${base}: HTTP ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = "";
  let first = 0;
  let last = 0;
  let tokens = 0;
  let server = 0;
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith("data:") || line === "data: [DONE]") continue;
      const event = JSON.parse(line.slice(5));
      if (event.timings?.predicted_per_second) server = event.timings.predicted_per_second;
      if (!event.choices?.length || !event.choices[0].text) continue;
      const now = performance.now();
      if (!tokens) first = now;
      last = now;
      tokens++;
    }
  }
  return {
    tokens,
    ttft_ms: first - sent,
    e2e_tokens_per_s: (tokens * 1000) / (last - sent),
    gen_tokens_per_s: last > first ? ((tokens - 1) * 1000) / (last - first) : 0,
    server_tokens_per_s: server,
  };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const out = {};
if (mode === "sequential") {
  const runs = Object.fromEntries(servers.map((s) => [s.name, []]));
  for (const s of servers) await stream(s.url); // warm: prompt cache, connection pools, verification cache
  for (let round = 0; round < Number(amount); round++) {
    for (let k = 0; k < servers.length; k++) {
      const s = servers[(round + k) % servers.length];
      runs[s.name].push(await stream(s.url));
    }
  }
  for (const [name, list] of Object.entries(runs)) {
    out[name] = { runs: list.length, tokens: list[0].tokens };
    for (const key of ["ttft_ms", "e2e_tokens_per_s", "gen_tokens_per_s", "server_tokens_per_s"]) {
      out[name][key] = median(list.map((r) => r[key]));
    }
  }
} else {
  for (const s of servers) {
    const until = performance.now() + Number(amount) * 1000;
    let requests = 0;
    let tokens = 0;
    let errors = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          // llama-server closes a keep-alive connection after 100 requests,
          // and fetch may have sent the next one on it: that request is
          // counted as an error and not retried.
          try {
            const r = await stream(s.url);
            requests++;
            tokens += r.tokens;
          } catch (e) {
            if (e.cause?.code !== "UND_ERR_SOCKET") throw e;
            errors++;
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    out[s.name] = { requests, errors, seconds, requests_per_s: requests / seconds, tokens_per_s: tokens / seconds };
  }
}
console.log(JSON.stringify(out));
