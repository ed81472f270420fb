// Bundles the console into ../dist, which the Go binary embeds. Output is
// deterministic (no hashes, no timestamps) so `make console-check` can
// rebuild and compare it with the committed dist.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

const out = new URL("../dist/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: "src/main.ts" },
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outdir: out,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync("src/index.html", out + "index.html");
