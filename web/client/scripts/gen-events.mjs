// npm run gen [-- --url http://127.0.0.1:5000]: writes src/generated/events.ts.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { OUTPUT, generate, loadSchemas } from "./gen-events-lib.mjs";

const i = process.argv.indexOf("--url");
const url = i >= 0 ? process.argv[i + 1] : undefined;
const text = await generate(await loadSchemas({ url }));
await mkdir(dirname(OUTPUT), { recursive: true });
await writeFile(OUTPUT, text);
console.log(`wrote ${OUTPUT}`);
