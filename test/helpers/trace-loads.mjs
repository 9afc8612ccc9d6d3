// Preload for tests: records every module URL the process resolves into $GC_TRACE_FILE.
import { register } from 'node:module';
register('./trace-hooks.mjs', import.meta.url, { data: { file: process.env.GC_TRACE_FILE } });
