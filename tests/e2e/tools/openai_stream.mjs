// A real OpenAI client (npm `openai`, pinned in tests/npm/package.json)
// pointed at `ward proxy`: lists the models, then streams a completion and a
// chat completion, greedy. Prints one JSON object: the model id, each
// stream's text, its number of content chunks, and the usage its last chunk
// reported.
// usage: node openai_stream.mjs NODE_MODULES BASE_URL PROMPT MAX_TOKENS
import { createRequire } from "node:module";
import path from "node:path";

const [modules, baseURL, prompt, maxTokens] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), "noop.js"));
const OpenAI = require("openai");

const client = new OpenAI({ baseURL, apiKey: "unused: ward proxy signs with the user's key", maxRetries: 0 });

async function collect(stream, pick) {
  let text = "";
  let chunks = 0;
  let usage = null;
  for await (const chunk of stream) {
    const piece = chunk.choices?.length ? pick(chunk.choices[0]) : "";
    if (piece) {
      text += piece;
      chunks++;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, chunks, usage };
}

const models = await client.models.list();
const model = models.data[0].id;
const completion = await collect(
  await client.completions.create({ model, prompt, max_tokens: Number(maxTokens), temperature: 0, stream: true }),
  (c) => c.text,
);
const chat = await collect(
  await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: prompt }],
    max_tokens: Number(maxTokens),
    temperature: 0,
    stream: true,
  }),
  (c) => c.delta?.content,
);
console.log(JSON.stringify({ model, completion, chat }));
