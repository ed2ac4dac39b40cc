// Preloaded (node --import) into a child process whose peak memory is measured: at exit it writes
// the process's maximum resident set size, in KiB, as the last line of stderr. See lib/gradc.mjs.
import { writeSync } from 'node:fs';

process.on('exit', () => writeSync(2, `\n@max-rss-kib ${process.resourceUsage().maxRSS}\n`));
