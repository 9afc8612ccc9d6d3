// The README and docs/ against the kit: the generated spec reference in step with the schema,
// "Your first lab" a spec the kit accepts, every task named, and none of the words of the
// workshop the kit was built in (the project's own notes, issues and build machine).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../tasks/util/paths.ts';
import { GENERATED, withGenerated } from '../../tasks/cmd/generated-docs.ts';
import { jsonSchema } from '../../tasks/cmd/schema.ts';
import { resolveLab } from '../../tasks/spec/resolve.ts';
import { isPublic } from '../../tasks/cli/registry.ts';
import { tasks } from '../../tasks.ts';
import { BIG_HOST } from '../helpers/probes.ts';
import { firstLabSpecs, userPages } from '../helpers/doc-pages.ts';

const read = (page: string) => readFileSync(join(PROJECT_ROOT, page), 'utf8');

describe('the docs', () => {
  it('hold the generated parts as the code makes them now (else: npx tsx scripts/update-docs.ts)', () => {
    for (const [page, make] of Object.entries(GENERATED)) {
      const text = read(page);
      assert.equal(text, withGenerated(text, make()), `${page} is out of step with the code`);
    }
  });

  it('list every field of the spec in docs/spec.md', () => {
    const text = read('docs/spec.md');
    const fields = ['vms[].network.sshPort', 'vms[].boot.cloudImage', 'vms[].children', 'host.libvirt.uri', 'vms[].checks[].expect.within'];
    for (const f of fields) assert.ok(text.includes(`| \`${f}\` |`), f);
    assert.ok(JSON.stringify(jsonSchema('spec')).length > 1000);
  });

  it('“Your first lab”: each spec shown is one the kit accepts, the second with a child inside the first', () => {
    const specs = firstLabSpecs(read('README.md'));
    assert.equal(specs.length, 2, 'the first lab, then the same with a child');
    const [one, two] = specs.map((s) => resolveLab(JSON.parse(s), BIG_HOST, 'README.md'));
    assert.equal(one!.vms.length, 1);
    assert.equal(one!.vms[0]!.children.length, 0);
    assert.equal(two!.vms[0]!.children.length, 1);
    // A fresh host has no disk to boot: the first lab boots an image the kit builds.
    for (const lab of [one!, two!]) assert.ok(typeof lab.vms[0]!.boot === 'object' && 'cloudImage' in lab.vms[0]!.boot, 'boots a cloud image');
  });

  it('name every task in the README, grouped by use', () => {
    const readme = read('README.md');
    const missing = tasks.filter(isPublic).filter((t) => !new RegExp(`\`(npx tsx tasks\\.ts )?${t.name}[ \`]`).test(readme));
    assert.deepEqual(
      missing.map((t) => t.name),
      [],
    );
  });

  it('speak to users: no notes, issues or build machine of the kit’s own workshop', () => {
    const workshop = [
      /\bthe seed\b(?! ISO| rides|\.iso)/i,
      /\bseed['’]s\b/i,
      /\bthe issue\b/i,
      /lab-notes|shared\//,
      /\b(measured|seen|built|up) here\b/i,
      /\bhere \((TCG|kvm_pvm)/i,
    ];
    const specs = readdirSync(join(PROJECT_ROOT, 'specs')).map((f) => `specs/${f}`);
    const schemaText = JSON.stringify(jsonSchema('spec'));
    for (const page of [...userPages(), ...specs]) {
      const text = read(page);
      for (const re of workshop) {
        const m = re.exec(text);
        assert.equal(m, null, `${page}: "${m?.[0]}" near: ${m ? text.slice(Math.max(0, m.index - 60), m.index + 60) : ''}`);
      }
    }
    for (const re of workshop) assert.doesNotMatch(schemaText, re, 'the published schema');
  });
});
