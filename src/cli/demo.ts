import { formatShape } from '../errors.js';
import * as nn from '../nn/index.js';
import { defineCommand, refuseArguments } from './command.js';
import { Generator, crossEntropy, noGrad, randn, sum, square, tensor } from '../tensor/index.js';

/** LeNet-5 as modern practice builds it: ReLU, max pooling, a softmax head (61,706 parameters). */
function lenet5(generator: Generator): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 6, 5, { generator }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(6, 16, 5, { generator }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(400, 120, { generator }),
    new nn.ReLU(),
    new nn.Linear(120, 84, { generator }),
    new nn.ReLU(),
    new nn.Linear(84, 10, { generator }),
  );
}

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'LeNet-5 forward and backward on a random batch: shapes and gradient norm',
  synopsis: [''],
  description:
    'A check that the library runs here: no data and no files needed. `make demo` trains LeNet-5 instead.',
  options: {},
  examples: ['convnets demo'],
  run: ({ positionals }) => {
    refuseArguments('demo', positionals);
    runDemo();
  },
});

/** The pre-training main job: one forward and one backward pass of LeNet-5 on a random batch. */
function runDemo(): void {
  const generator = new Generator(1);
  const net = lenet5(generator);
  const batch = 8;
  let x = randn([batch, 1, 32, 32], { generator });
  const labels = tensor(
    Array.from({ length: batch }, (_, i) => i % 10),
    [batch],
    { dtype: 'int32' },
  );
  console.log(`LeNet-5, ${net.numParameters()} parameters, input ${formatShape(x.shape)}`);
  for (const [name, layer] of net.namedChildren()) {
    x = layer.call(x);
    console.log(`  ${name.padStart(2)} ${layer.constructor.name.padEnd(10)} → ${formatShape(x.shape)}`);
  }
  const loss = crossEntropy(x, labels);
  loss.backward();
  const gradientNorm = noGrad(() =>
    Math.sqrt(
      net.parameters().reduce((total, p) => total + (p.grad === null ? 0 : sum(square(p.grad)).item()), 0),
    ),
  );
  console.log(
    `cross-entropy loss ${loss.item().toFixed(4)} (ln 10 = ${Math.log(10).toFixed(4)} for a uniform guess)`,
  );
  console.log(`gradient norm over all parameters ${gradientNorm.toFixed(4)}`);
}
