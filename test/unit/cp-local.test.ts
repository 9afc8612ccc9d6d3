// cp's local side, checked before any session and the same with or without the lab agent:
// a source must be a regular file; a target folder takes the remote file's name; a missing
// folder is named.  All exit 2 (UsageError).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localSource, localTarget } from '../../tasks/cmd/vm/cp.ts';
import { UsageError } from '../../tasks/util/errors.ts';

describe('cp local side', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gc-cplocal-'));
    writeFileSync(join(dir, 'file'), 'x');
    mkdirSync(join(dir, 'folder'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const refused = (f: () => unknown, message: RegExp) => assert.throws(f, (e: Error) => e instanceof UsageError && message.test(e.message));

  it('reads a regular file, by its absolute path; refuses a folder or nothing', () => {
    assert.equal(localSource(join(dir, 'file')), join(dir, 'file'));
    refused(() => localSource(join(dir, 'folder')), /folder\S* is a folder; cp copies one file/);
    refused(() => localSource(join(dir, 'none')), /none: no such file/);
    refused(() => localSource('/dev/null'), /not a regular file/);
  });

  it('writes into a folder under the remote file’s name, or to a new file in an existing folder', () => {
    assert.equal(localTarget(join(dir, 'folder'), '/etc/os-release'), join(dir, 'folder', 'os-release'));
    assert.equal(localTarget(join(dir, 'new'), '/etc/os-release'), join(dir, 'new'));
    assert.equal(localTarget(join(dir, 'file'), '/etc/os-release'), join(dir, 'file'));
  });

  it('names a folder that is not there, and a target that is no file', () => {
    refused(() => localTarget(join(dir, 'gone', 'x'), '/etc/hosts'), /no folder \S*gone to write x in/);
    refused(() => localTarget(join(dir, 'gone/'), '/etc/hosts'), /no folder \S*gone\//);
    refused(() => localTarget(join(dir, 'file', 'x'), '/etc/hosts'), /no folder/);
    refused(() => localTarget('/dev/null', '/etc/hosts'), /not a regular file/);
  });
});
