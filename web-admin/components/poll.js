// @ts-check
/**
 * Runs `fn` now and then every `ms` until `signal` aborts, never two at once.
 * @param {AbortSignal} signal
 * @param {number} ms
 * @param {() => Promise<void>} fn
 */
export function every(signal, ms, fn) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await fn();
    } finally {
      if (!signal.aborted) timer = setTimeout(tick, ms);
    }
  };
  signal.addEventListener('abort', () => clearTimeout(timer));
  return tick();
}
