// The official TypeScript SDK as a client of the gateway: list the tools, discover, get a schema,
// execute; prints one JSON object for the Rust test to check. Usage: node ts_client.mjs URL
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = process.argv[2];
const transport = new StreamableHTTPClientTransport(new URL(url));
const client = new Client({ name: "ts-sdk-peer", version: "1.0.0" });
await client.connect(transport);
const text = (result) => result.content?.[0]?.text ?? "";
const tools = await client.listTools();
const discover = await client.callTool({ name: "discover_tools", arguments: { query: "echo" } });
const schema = await client.callTool({ name: "get_tool_schema", arguments: { tool_name: "echo" } });
const executed = await client.callTool({
  name: "execute_tool",
  arguments: { tool_name: "echo", arguments: { message: "from the TypeScript SDK" } },
});
console.log(JSON.stringify({
  server: client.getServerVersion(),
  session: transport.sessionId ?? null,
  tools: tools.tools.map((tool) => tool.name),
  discover: text(discover),
  schema: text(schema),
  execute: text(executed),
}));
await client.close();
