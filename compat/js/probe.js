// What the JavaScript probes (v2.js, v3.js) share: their command line (--endpoint --bucket
// --prefix --interval --until) and the JSON lines they print, the same as every probe of
// `make compat` prints.
'use strict';

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i + 1 < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['interval', 'until']) out[k] = Number(out[k]);
  return out;
}

function emit(fields) {
  process.stdout.write(JSON.stringify(fields) + '\n');
}

// One call every opts.interval seconds until opts.until (Unix seconds); messages have their
// whitespace folded and request ids dropped so runs compare.
async function loop(opts, call, describe) {
  while (Date.now() / 1000 < opts.until) {
    const started = Date.now() / 1000;
    try {
      await call();
      emit({ t: started, ok: true });
    } catch (e) {
      emit({ t: started, ok: false, error: describe(e).replace(/\s+/g, ' ').slice(0, 400) });
    }
    const wait = (started + opts.interval) * 1000 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

module.exports = { args, emit, loop };
