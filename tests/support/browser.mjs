// What the browser tests (tests/web, tests/console) and the web benchmark (tests/bench/web) share
// beyond the processes (tests/console/harness.mjs): loading playwright-core and axe-core, steps
// that build on each other, and axe-core's accessibility check of a page.
//
// Each suite pins its own playwright-core and axe-core in its package.json; they are loaded from
// the node_modules of the folder the caller names, not from here.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

export const CHROMIUM = process.env.GROVE_CHROMIUM || '/usr/bin/chromium';

// { playwright, axe } from the node_modules of `folder` (a URL or path of the folder holding the
// package.json that pins them; `npmFolder` names it in the message); axe is axe-core's source, to
// evaluate in a page (DevTools evaluation is not subject to the page's CSP).
export async function loadBrowserTools(folder, npmFolder) {
  try {
    const require = createRequire(new URL('package.json', folder));
    const playwright = await import(pathToFileURL(require.resolve('playwright-core')).href);
    const axe = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
    return { playwright: playwright.default ?? playwright, axe };
  } catch (error) {
    throw new Error('playwright-core or axe-core is not installed: run `npm ci --prefix ' +
                    `${npmFolder}\` (scripts/test.sh does) (${error.message})`);
  }
}

// A `step(name, body, timeout)` for tests that build on each other: each is skipped once an
// earlier one failed, and when one fails `report(name)` runs (screenshots, logs) before the
// failure is passed on.
export function stepper({ timeout, report }) {
  let failed = false;
  return (name, body, stepTimeout = timeout) => {
    test(name, { timeout: stepTimeout }, async (t) => {
      if (failed) {
        t.skip('an earlier step failed');
        return;
      }
      try {
        await body(t);
      } catch (error) {
        failed = true;
        await report(name);
        throw error;
      }
    });
  };
}

// axe-core's check of what `page` shows against WCAG 2.1 A and AA (labels, contrast, roles,
// names): the violations, one line each (at most three elements named per rule).
export async function axeViolations(page, axe) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axe);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }));
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}: ` +
    v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '));
}
