// Bundles the console into ../dist, which the Go binary embeds. Output is
// deterministic (no hashes, no timestamps) so `make console-check` can
// rebuild and compare it with the committed dist.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

// An argument names another output directory (the Go test that compares
// a fresh build with the committed dist uses it).
const out = (process.argv[2] ? process.argv[2].replace(/\/?$/, "/") : new URL("../dist/", import.meta.url).pathname);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: new URL("src/main.ts", import.meta.url).pathname },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outdir: out,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(new URL("src/index.html", import.meta.url).pathname, out + "index.html");
