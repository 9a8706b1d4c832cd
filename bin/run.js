#!/usr/bin/env node
// The same CLI as bin/run.cjs (package.json's "bin"), for whoever runs bin/run.js.
import './run.cjs'
