#!/usr/bin/env node
// The `rayinfo` command of the installed package (package.json "bin"): the
// built CLI entrypoint, dist/main.js (`npm run build`, or `prepare` on install).
import "../dist/main.js"
