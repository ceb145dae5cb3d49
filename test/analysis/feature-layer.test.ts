import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLayer, receptiveFields } from '../../src/analysis/index.js';
import { withBackend } from '../../src/backend/registry.js';
import * as models from '../../src/models/index.js';

// Every model that names its last convolutional stage: the path exists and gives feature maps whose units see a
// region of the input (the receptive-field walk also runs through every architecture's joins: residual additions,
// DenseNet's and Inception's concatenations).
for (const info of models.list().filter((i) => i.featureLayer !== undefined)) {
  test(`${info.name}: featureLayer '${info.featureLayer}' gives feature maps at [${info.inputShape.join(', ')}]`, () => {
    const net = withBackend('meta', () => models.get(info.name));
    const layer = info.featureLayer!;
    findLayer(net, layer);
    const field = receptiveFields(net, info.inputShape).get(layer);
    assert.ok(field !== undefined, 'a feature map [N, C, H, W]');
    assert.ok(field.size[0] > 1 && field.jump[0] > 1, `a stage deep in the net: ${JSON.stringify(field)}`);
  });
}

test('the ResNets, VGGs and LeNet-5 name their last stage', () => {
  for (const name of ['resnet18', 'resnet50', 'resnet20', 'vgg16', 'lenet5'])
    assert.ok(models.info(name).featureLayer !== undefined, name);
});
