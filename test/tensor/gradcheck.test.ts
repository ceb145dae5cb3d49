import { test } from 'node:test';
import assert from 'node:assert/strict';
import { record } from '../../src/tensor/autograd.js';
import {
  Tensor,
  keep,
  flatten,
  mul,
  noGrad,
  reshape,
  slice,
  concat,
  square,
} from '../../src/tensor/index.js';
import { gradcheck, uniformTensor } from './gradcheck.js';

/** square(x) with a gradient rule supplied by the test. */
function squareWithRule(rule: (x: Tensor, dy: Tensor) => Tensor): (x: Tensor) => Tensor {
  return (x) => {
    const y = noGrad(() => square(x));
    return record('squareWithRule', y, [x], (dy) => [rule(x, dy)]);
  };
}

test('gradcheck accepts a correct rule', () => {
  const { worst } = gradcheck(
    'square',
    squareWithRule((x, dy) => mul(dy, mul(x, 2))),
    [uniformTensor([3, 4], 1)],
  );
  assert.ok(worst < 1e-3, `worst error ${worst}`);
});

test('gradcheck rejects a gradient 5 % too large and names the op, input and element', () => {
  const wrong = squareWithRule((x, dy) => mul(dy, mul(x, 2.1)));
  assert.throws(
    () => gradcheck('wrongSquare', wrong, [uniformTensor([3, 4], 1, 0.5, 1.5)]),
    /wrongSquare: input 0 element \[\d, \d\]: analytic .* numeric/,
  );
});

test('gradcheck rejects a gradient sent to the wrong element', () => {
  // The rule reverses the gradient's elements: right values, wrong places.
  const reversed = squareWithRule((x, dy) => {
    const g = flatten(mul(dy, mul(x, 2)));
    const halves = [slice(g, [6], [6]), slice(g, [0], [6])];
    return reshape(concat(halves), x.shape);
  });
  assert.throws(
    () => gradcheck('shuffled', reversed, [uniformTensor([3, 4], 2, 0.5, 1.5)]),
    /shuffled: input 0/,
  );
});

test('gradcheck rejects a rule that leaks storages', () => {
  const leaked: Tensor[] = [];
  const leaky = squareWithRule((x, dy) => {
    // keep() lets the tensor escape every scope: nothing but the garbage collector would release it.
    leaked.push(keep(mul(x, 3)));
    return mul(dy, mul(x, 2));
  });
  assert.throws(() => gradcheck('leaky', leaky, [uniformTensor([2, 2], 3)]), /leaky: .*leaked storages/);
  leaked.forEach((t) => t.dispose());
});
