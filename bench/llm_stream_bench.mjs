// Streams completions from an OpenAI-compatible server and measures them
// (bench/llm_vs_direct.sh). Uses Node's own fetch, so the client costs the
// same whichever server it reads.
//   sequential: RUNS streams one after another; time to first token (request
//               sent to first content event) and generation tokens/s (events
//               after the first, over the time from the first to the last).
//   concurrent: CONCURRENCY streams at a time for SECONDS; completed
//               requests/s and tokens/s in all.
// Each stream generates exactly MAX_TOKENS tokens (ignore_eos), greedy.
// usage: node llm_stream_bench.mjs BASE_URL sequential RUNS MAX_TOKENS
//        node llm_stream_bench.mjs BASE_URL concurrent SECONDS MAX_TOKENS CONCURRENCY
// Prints one JSON object.
const [base, mode, amount, maxTokens, concurrency] = process.argv.slice(2);
const prompt = "Once upon a time, there was a little girl named Lily. She";

async function stream() {
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
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = "";
  let first = 0;
  let last = 0;
  let tokens = 0;
  for await (const bytes of res.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line.startsWith("data:") || line === "data: [DONE]") continue;
      const event = JSON.parse(line.slice(5));
      if (!event.choices?.length || !event.choices[0].text) continue;
      const now = performance.now();
      if (!tokens) first = now;
      last = now;
      tokens++;
    }
  }
  return { ttft_ms: first - sent, tokens, gen_ms: last - first };
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

if (mode === "sequential") {
  await stream(); // warm: the prompt cache, the connection pools, the verification cache
  const runs = [];
  for (let i = 0; i < Number(amount); i++) runs.push(await stream());
  const rates = runs.map((r) => ((r.tokens - 1) * 1000) / r.gen_ms);
  console.log(
    JSON.stringify({
      runs: runs.length,
      tokens: runs[0].tokens,
      ttft_ms_p50: median(runs.map((r) => r.ttft_ms)),
      tokens_per_s_p50: median(rates),
    }),
  );
} else {
  const until = performance.now() + Number(amount) * 1000;
  let requests = 0;
  let tokens = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Number(concurrency) }, async () => {
      while (performance.now() < until) {
        const r = await stream();
        requests++;
        tokens += r.tokens;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(JSON.stringify({ requests, seconds, requests_per_s: requests / seconds, tokens_per_s: tokens / seconds }));
}
