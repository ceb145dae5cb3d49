/**
 * The bottleneck example of the Inception lecture: 28×28×192 through a 5×5 convolution to 32 channels directly,
 * or through a 1×1 convolution to 16 channels first. Costs from the library's summary, built on the meta backend
 * (shapes only), recomputed as the channel counts change.
 */
import { nn, summary, withBackend } from '../browser.js';
import { byId, count } from './pictures.js';

const SIDE = 28;

function macs(build: () => nn.Module, inChannels: number): number {
  const model = withBackend('meta', build);
  return summary(model, [inChannels, SIDE, SIDE]).totals.macs;
}

/** The two costs, and the view filled with them. */
export function updateBottleneck(): { direct: number; bottleneck: number } {
  const read = (id: string) => Math.max(1, Math.round(Number(byId<HTMLInputElement>(id).value) || 1));
  const inChannels = read('bottleneck-in');
  const outChannels = read('bottleneck-out');
  const middle = read('bottleneck-middle');
  const direct = macs(() => new nn.Conv2d(inChannels, outChannels, 5, { padding: 'same' }), inChannels);
  const bottleneck = macs(
    () =>
      new nn.Sequential(
        new nn.Conv2d(inChannels, middle, 1),
        new nn.Conv2d(middle, outChannels, 5, { padding: 'same' }),
      ),
    inChannels,
  );
  byId('bottleneck-direct').textContent = `${count(direct)} MACs`;
  byId('bottleneck-direct-formula').textContent =
    `${SIDE}·${SIDE}·${outChannels} outputs × 5·5·${inChannels} multiply-adds each`;
  byId('bottleneck-reduced').textContent = `${count(bottleneck)} MACs`;
  byId('bottleneck-reduced-formula').textContent =
    `${SIDE}·${SIDE}·${middle} × ${inChannels} (1×1) + ${SIDE}·${SIDE}·${outChannels} × 5·5·${middle} (5×5)`;
  byId('bottleneck-ratio').textContent =
    `the bottleneck costs ${(direct / bottleneck).toFixed(1)}× fewer multiply-accumulates`;
  const widest = Math.max(direct, bottleneck);
  byId('bottleneck-direct-bar').style.width = `${(100 * direct) / widest}%`;
  byId('bottleneck-reduced-bar').style.width = `${(100 * bottleneck) / widest}%`;
  return { direct, bottleneck };
}

export function setUpBottleneck(): void {
  for (const id of ['bottleneck-in', 'bottleneck-out', 'bottleneck-middle'])
    byId(id).addEventListener('input', () => updateBottleneck());
  updateBottleneck();
}
