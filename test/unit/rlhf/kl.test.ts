import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, DataError } from '../../../common/errors.js';
import {
  AdaptiveKLController,
  FixedKLController,
  klControllerFromConfig,
  klControllerFromJSON,
} from '../../../rlhf/kl.js';
import { assertClose } from './close.js';

describe('FixedKLController', () => {
  it('never changes β', () => {
    const c = new FixedKLController(0.05);
    c.update(100, 1000);
    c.update(0, 1000);
    assert.equal(c.value, 0.05);
    assert.deepEqual(c.toJSON(), { kind: 'fixed', value: 0.05 });
  });
});

describe('AdaptiveKLController', () => {
  // β0 = 0.1, target 6, horizon 10000, 256 samples per update: nSteps/horizon = 0.0256
  it('follows the Ziegler et al. trajectory, with err clipped to ±0.2', () => {
    const c = new AdaptiveKLController(0.1, 6, 10000);
    // KL 12: err = clip(12/6 − 1 = 1) = 0.2 → β = 0.1·(1 + 0.2·0.0256) = 0.1·1.00512 = 0.100512
    c.update(12, 256);
    assertClose(c.value, 0.100512, 1e-15);
    // KL 3: err = clip(−0.5) = −0.2 → β = 0.100512·0.99488 = 0.09999737856
    c.update(3, 256);
    assertClose(c.value, 0.09999737856, 1e-15);
    // KL 6.6: err = 0.1 (inside the clip) → β = 0.09999737856·1.00256
    //       = 0.09999737856 + 0.0002559932891136 = 0.1002533718491136
    c.update(6.6, 256);
    assertClose(c.value, 0.1002533718491136, 1e-15);
    // KL on target: err = 0 → unchanged
    c.update(6, 256);
    assertClose(c.value, 0.1002533718491136, 1e-15);
  });

  it('resumes the same trajectory from toJSON()', () => {
    const a = new AdaptiveKLController(0.1, 6, 10000);
    a.update(12, 256);
    const b = klControllerFromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    assert.ok(b instanceof AdaptiveKLController);
    a.update(3, 256);
    b.update(3, 256);
    assert.equal(b.value, a.value);
    assert.deepEqual(b.toJSON(), { kind: 'adaptive', value: a.value, target: 6, horizon: 10000 });
  });

  it('rejects invalid settings', () => {
    assert.throws(() => new AdaptiveKLController(0.1, 0, 10000), /target must be > 0/);
    assert.throws(() => new AdaptiveKLController(0.1, 6, 0), /horizon must be > 0/);
    assert.throws(() => new AdaptiveKLController(-1, 6, 1), /coef/);
    assert.throws(() => new AdaptiveKLController(0.1, 6, 1).update(Number.NaN, 1), /KL must be finite/);
  });
});

describe('klControllerFromConfig', () => {
  it('builds fixed and adaptive controllers, horizon defaulting to 10000', () => {
    assert.ok(klControllerFromConfig({ kind: 'fixed', coef: 0.05 }) instanceof FixedKLController);
    const a = klControllerFromConfig({ kind: 'adaptive', coef: 0.2, target: 6 });
    assert.deepEqual(a.toJSON(), { kind: 'adaptive', value: 0.2, target: 6, horizon: 10000 });
  });

  it('names the field in ConfigErrors', () => {
    assert.throws(
      () => klControllerFromConfig({ kind: 'adaptive', coef: 0.2 }),
      (e: unknown) => e instanceof ConfigError && e.field === 'target' && /required/.test(e.message),
    );
    assert.throws(
      () => klControllerFromConfig({ kind: 'adaptive', coef: 0.2, target: 6, horizon: -1 }),
      (e: unknown) => e instanceof ConfigError && e.field === 'horizon',
    );
    assert.throws(
      () => klControllerFromConfig({ kind: 'fixed', coef: -0.2 }),
      (e: unknown) => e instanceof ConfigError && e.field === 'coef',
    );
    assert.throws(
      () => klControllerFromConfig({ kind: 'bogus' as 'fixed', coef: 0.2 }),
      (e: unknown) => e instanceof ConfigError && e.field === 'kind',
    );
  });
});

describe('klControllerFromJSON', () => {
  it('throws a DataError naming the source and the field', () => {
    assert.throws(
      () => klControllerFromJSON({ kind: 'adaptive', value: 0.1, target: 6 }, 'ckpt/step-10.json'),
      (e: unknown) => e instanceof DataError && e.field === 'horizon' && e.file === 'ckpt/step-10.json' && /^ckpt\/step-10\.json: /.test(e.message),
    );
    assert.throws(() => klControllerFromJSON({ kind: 'nope', value: 1 }), DataError);
  });
});
