// `smoke` for real: the demo lab's three layers up, checked, reported as JUnit XML and TAP,
// and always brought down; a failing check fails the run and is in the report.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { kit, succeeded } from '../helpers/cli.ts';
import { qemusUnder, tinyLab } from '../helpers/vm.ts';
import { lookAt } from '../helpers/browser.ts';

interface Case {
  '@_name': string;
  failure?: { '@_message': string } | string;
  'system-out'?: string;
}
interface Suite {
  '@_name': string;
  testcase: Case[];
}

function readJunit(file: string): Suite[] {
  const doc = new XMLParser({ ignoreAttributes: false, isArray: (name) => name === 'testsuite' || name === 'testcase' }).parse(readFileSync(file, 'utf8'));
  assert.ok(doc.testsuites, 'a <testsuites> root');
  return doc.testsuites.testsuite as Suite[];
}

describe('smoke', () => {
  const homes: string[] = [];
  after(() => {
    for (const h of homes) {
      for (const pid of qemusUnder(h)) process.kill(pid, 'SIGKILL');
      rmSync(h, { recursive: true, force: true });
    }
  });

  it('doc demo with the lab up, then smoke demo --reuse: every check in all three layers passes, JUnit XML and the HTML report are written, and down leaves nothing running', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gc-smoke-'));
    homes.push(home);
    const env = { GRAINCHART_HOME: home };
    succeeded(kit(['up', 'demo', '--quiet'], { env }));

    // The lab report with the lab up: both VMs running, live sparklines, every chart drawn.
    const doc = kit(['doc', 'demo', '--out', join(home, 'doc'), '--json'], { env });
    assert.equal(doc.status, 0, doc.stderr);
    const page = await lookAt(join(home, 'doc', 'demo.html'), join(home, 'doc.png'));
    assert.deepEqual(page.vms, [
      { name: 'l1', state: 'running' },
      { name: 'l2', state: 'running' },
    ]);
    for (const name of ['l1', 'l2', 'demo L1', 'demo L2']) assert.ok(page.text.includes(name), name);
    assert.deepEqual(
      page.svgs.map((s) => s.label).filter((l) => / (CPU|memory)$/.test(l)),
      ['l1 CPU', 'l1 memory', 'l2 CPU', 'l2 memory'],
    );
    for (const s of page.svgs) assert.ok(s.width > 50 && s.height > 20, `${s.label}: ${s.width}×${s.height}`);
    assert.ok(page.screenshotBytes > 10_000);

    const report = join(home, 'report.xml');
    const html = join(home, 'report.html');
    const r = kit(['smoke', 'demo', '--reuse', '--junit', report, '--html', html, '--json'], { env });
    // On failure, say which checks failed and why.
    assert.equal(r.status, 0, `${r.stderr}\n${r.stdout}`);
    const summary = JSON.parse(r.stdout);
    const spec = JSON.parse(kit(['spec', 'demo', '--json']).stdout);
    const declared = spec.host.checks.length + spec.vms[0].checks.length + spec.vms[0].children[0].checks.length;
    assert.equal(summary.total, declared);
    assert.equal(summary.failed, 0, JSON.stringify(summary.results.filter((x: { ok: boolean }) => !x.ok)));
    const suites = readJunit(report);
    assert.deepEqual(
      suites.map((s) => s['@_name']),
      ['demo.host', 'demo.l1', 'demo.l2'],
    );
    assert.equal(
      suites.reduce((n, s) => n + s.testcase.length, 0),
      declared,
    );
    assert.ok(suites.every((s) => s.testcase.every((c) => c.failure === undefined)));
    // smoke's report carries each check's result on its VM.
    const look = await lookAt(html, join(home, 'report.png'));
    assert.deepEqual(look.vms, [
      { name: 'l1', state: 'running' },
      { name: 'l2', state: 'running' },
    ]);
    assert.match(look.text, /pass child-reachable/);
    assert.match(look.text, /pass knows its name/);
    // --reuse: the golden snapshot is gone, the lab stays up; down then leaves nothing.
    assert.match(summary.cleanup.join('\n'), /golden snapshot .* removed/);
    assert.doesNotMatch(summary.cleanup.join('\n'), /down/);
    assert.deepEqual(
      JSON.parse(kit(['status', 'demo', '--json'], { env }).stdout).map((s: { state: string }) => s.state),
      ['running', 'running'],
    );
    succeeded(kit(['down', 'demo'], { env }));
    assert.deepEqual(qemusUnder(home), []);
  });

  it('a failing check fails the run; JUnit and TAP carry its message; the lab still goes down', async () => {
    const lab = await tinyLab('smokefail', [
      {
        name: 'f1',
        extra: {
          checks: ['ssh', { name: 'fails on purpose', run: 'echo oops; exit 3' }, { name: 'wrong output', run: 'echo hello', expect: { stdout: '^bye$' } }],
        },
      },
    ]);
    homes.push(lab.home);
    const report = join(lab.home, 'report.xml');
    const r = kit(['--spec', lab.spec, 'smoke', '--junit', report, '--tap'], { env: lab.env });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^TAP version 13\n1\.\.3\nok 1 - f1: ssh\nnot ok 2 - f1: fails on purpose\n/);
    assert.match(r.stdout, /message: "exit code 3, expected 0"/);
    const [suite] = readJunit(report);
    const byName = Object.fromEntries(suite!.testcase.map((c) => [c['@_name'], c]));
    assert.equal(byName.ssh!.failure, undefined);
    assert.equal((byName['fails on purpose']!.failure as { '@_message': string })['@_message'], 'exit code 3, expected 0');
    assert.match(String(byName['fails on purpose']!['system-out']), /oops/);
    assert.match((byName['wrong output']!.failure as { '@_message': string })['@_message'], /stdout does not match \/\^bye\$\//);
    assert.deepEqual(qemusUnder(lab.home), []);
  });
});
