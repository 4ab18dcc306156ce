// A scripted stand-in for the Anthropic Messages API on loopback (the node twin of tests/support/messages_api.py):
// each POST /v1/messages takes the next turn of the script, a function of the request body that returns the reply's
// content blocks. When the script is used up it answers 400 invalid_request_error, so a test fails loudly.
import { createServer } from "node:http";

let ids = 0;

export const text = (message) => [{ type: "text", text: message }];
export const toolUse = (name, input, preamble) => [
  ...(preamble ? text(preamble) : []),
  { type: "tool_use", id: `toolu_e2e_${++ids}`, name, input },
];

/** The text of the last user message of a request (a string, or its text and tool_result blocks joined). */
export function lastUserText(body) {
  const content = body.messages.at(-1)?.content;
  if (typeof content === "string") return content;
  return (content ?? []).map((block) => (typeof block.content === "string" ? block.content : block.text ?? "")).join("\n");
}

export async function startMessagesApi(script) {
  const turns = [...script];
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const send = (status, payload) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== "POST" || !req.url.startsWith("/v1/messages")) {
        return send(404, { type: "error", error: { type: "not_found_error", message: `scripted Messages API serves POST /v1/messages, not ${req.url}` } });
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      requests.push(body);
      const turn = turns.shift();
      if (!turn) {
        return send(400, { type: "error", error: { type: "invalid_request_error", message: `scripted Messages API: no reply left for request #${requests.length}` } });
      }
      const content = turn(body);
      send(200, {
        id: `msg_e2e_${++ids}`, type: "message", role: "assistant", model: body.model ?? "scripted", content,
        stop_reason: content.some((block) => block.type === "tool_use") ? "tool_use" : "end_turn", stop_sequence: null,
        usage: { input_tokens: 10, output_tokens: 10 },
      });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    get remaining() {
      return turns.length;
    },
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
