import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/**
 * The dashboard's static files, served from the package itself (no CDN, no build step on the
 * user's side). The build copies them, uPlot's included, into dist/dashboard/assets (see
 * scripts/copy-sql.mjs); run from source, uPlot's files come from its package.
 */
const files: Readonly<Record<string, { readonly type: string; readonly fromPackage?: string }>> = {
  'dashboard.js': { type: 'text/javascript; charset=utf-8' },
  'dashboard.css': { type: 'text/css; charset=utf-8' },
  'favicon.svg': { type: 'image/svg+xml' },
  'uPlot.iife.min.js': {
    type: 'text/javascript; charset=utf-8',
    fromPackage: 'uplot/dist/uPlot.iife.min.js',
  },
  'uPlot.min.css': { type: 'text/css; charset=utf-8', fromPackage: 'uplot/dist/uPlot.min.css' },
};

const loaded = new Map<string, Promise<Uint8Array>>();

/** The response for one asset, or null when there is no such file. */
export async function assetResponse(name: string): Promise<Response | null> {
  const file = Object.hasOwn(files, name) ? files[name] : undefined;
  if (!file) return null;
  let body = loaded.get(name);
  if (!body) {
    body = load(name, file.fromPackage);
    loaded.set(name, body);
    body.catch(() => loaded.delete(name));
  }
  return new Response(await body, {
    headers: { 'Content-Type': file.type, 'Cache-Control': 'public, max-age=3600' },
  });
}

async function load(name: string, fromPackage: string | undefined): Promise<Uint8Array> {
  try {
    return await readFile(new URL(`./assets/${name}`, import.meta.url));
  } catch (error) {
    if (fromPackage === undefined || (error as { code?: unknown }).code !== 'ENOENT') throw error;
    return readFile(createRequire(import.meta.url).resolve(fromPackage));
  }
}
