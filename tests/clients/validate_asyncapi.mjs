// Validates an AsyncAPI document with the official parser (@asyncapi/parser),
// then prints one JSON line summarising what it understood, which
// tests/e2e/asyncapi.rs compares with the generator's own view.
//
//   node validate_asyncapi.mjs ../../openapi/asyncapi.yaml
//
// Exits 1 on any diagnostic of severity error or warning: the document is
// generated, so it can be kept free of both.

import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const SEVERITY = ["error", "warning", "info", "hint"];

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate_asyncapi.mjs FILE");
  process.exit(2);
}
const source = await readFile(path, "utf8");
const { document, diagnostics } = await new Parser().parse(source, { source: path });

let failed = document === undefined;
for (const d of diagnostics) {
  const where = d.path.length ? d.path.join(".") : "(document)";
  console.error(`${SEVERITY[d.severity] ?? d.severity}: ${d.code}: ${d.message} at ${where}`);
  failed ||= d.severity <= 1;
}
if (failed) {
  console.error(`${path}: not a valid AsyncAPI document`);
  process.exit(1);
}

const summary = {
  asyncapi: document.version(),
  channels: document.channels().all().map((c) => ({
    id: c.id(),
    address: c.address(),
    parameters: c.parameters().all().map((p) => p.id()),
  })),
  operations: document.operations().all().map((o) => ({
    id: o.id(),
    action: o.action(),
    security: o.security().flatMap((req) =>
      req.all().map((r) => {
        const s = r.scheme();
        return s.type() === "http" ? `http ${s.scheme()}` : `${s.type()} ${s.in()} ${s.name()}`;
      }),
    ),
    query: Object.keys(o.bindings().get("http")?.value()?.query?.properties ?? {}),
  })),
  messages: document.components().messages().all().map((m) => ({
    id: m.id(),
    name: m.name(),
    headers: m.hasHeaders() ? Object.keys(m.headers().properties() ?? {}) : [],
    payload: m.hasPayload() ? Object.keys(m.payload().properties() ?? {}) : [],
    examples: m.examples().length,
  })),
};
console.log(JSON.stringify(summary));
