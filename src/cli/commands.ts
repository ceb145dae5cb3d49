/** The verbs of `convnets`, in the order help lists them; each lives in its own file under src/cli/. */
import type { Command } from './command.js';
import { benchCommand } from './bench.js';
import { completionCommand } from './completion.js';
import { demoCommand } from './demo.js';
import { evalCommand } from './eval.js';
import { explainCommand } from './explain.js';
import { experimentCommand } from './experiment.js';
import { exportCommand } from './export.js';
import { infoCommand } from './info.js';
import { launchCommand } from './launch.js';
import { modelsCommand } from './models.js';
import { onnxCommand } from './onnx.js';
import { predictCommand } from './predict.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { showCommand } from './show.js';
import { summaryCommand } from './summary.js';
import { trainCommand } from './train.js';

export const commands: readonly Command[] = [
  infoCommand,
  demoCommand,
  modelsCommand,
  summaryCommand,
  trainCommand,
  launchCommand,
  evalCommand,
  predictCommand,
  experimentCommand,
  exportCommand,
  explainCommand,
  showCommand,
  reportCommand,
  serveCommand,
  benchCommand,
  onnxCommand,
  completionCommand(() => commands),
] as Command[];
