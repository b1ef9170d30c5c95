import { test } from 'node:test';
import assert from 'node:assert/strict';
import { operatorName } from '../src/shared/operator.ts';

void test('the CLI operator is the user name, or a stand-in when the uid has no passwd entry', () => {
  assert.equal(
    operatorName(() => ({ username: 'amal' })),
    'amal',
  );
  const noPasswdEntry = () => {
    // What libuv raises for a uid missing from /etc/passwd.
    throw Object.assign(new Error('uv_os_get_passwd returned ENOENT'), {
      code: 'ERR_SYSTEM_ERROR',
    });
  };
  const saved = process.env.USER;
  try {
    process.env.USER = 'from-env';
    assert.equal(operatorName(noPasswdEntry), 'from-env');
    delete process.env.USER;
    assert.match(operatorName(noPasswdEntry), /^uid-(\d+|unknown)$/);
  } finally {
    if (saved === undefined) delete process.env.USER;
    else process.env.USER = saved;
  }
});
