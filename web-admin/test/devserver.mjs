// A stand-in for Herald's own /admin/ route, for servers that do not serve
// the console yet: serves web-admin/ at /admin/ and clients/js/herald.js at
// /admin/herald.js with the CSP Herald sends, and proxies everything else
// (the API, streams) to Herald, so the console is same-origin with the API.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLIENT = fileURLToPath(new URL('../../clients/js/herald.js', import.meta.url));
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/**
 * Starts the server on 127.0.0.1:<random>.
 * @param {string} heraldUrl
 * @returns {Promise<{url: string, close: () => void}>}
 */
export function startDevServer(heraldUrl) {
  const target = new URL(heraldUrl);
  const server = http.createServer(async (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    if (pathname === '/admin') {
      res.writeHead(308, { Location: '/admin/' }).end();
      return;
    }
    if (pathname.startsWith('/admin/')) {
      const rel = pathname === '/admin/' ? 'index.html' : decodeURIComponent(pathname.slice('/admin/'.length));
      const file = rel === 'herald.js' ? CLIENT : path.join(ROOT, rel);
      const ext = path.extname(file);
      const inside = file === CLIENT || (file.startsWith(ROOT) && !rel.split('/').some((p) => p === '..' || p === 'node_modules' || p === 'test'));
      if (!inside || !(ext in TYPES)) {
        res.writeHead(404).end();
        return;
      }
      try {
        const body = await readFile(file);
        res.writeHead(200, { 'Content-Type': TYPES[/** @type {keyof typeof TYPES} */ (ext)], 'Cache-Control': 'no-store', 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
      return;
    }
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
      resolve({
        url: `http://127.0.0.1:${addr.port}`,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      });
    });
  });
}

// `node test/devserver.mjs http://127.0.0.1:18090` for trying the console by hand.
if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const s = await startDevServer(process.argv[2] ?? 'http://127.0.0.1:18090');
  console.log(`console at ${s.url}/admin/`);
}
