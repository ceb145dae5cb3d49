/** A worker_threads worker of the wasm backend's pool (pool.ts) in Node: its workerData is a PoolThreadData. */
import { workerData } from 'node:worker_threads';
import { type PoolThreadData, runPoolThread } from './pool.js';

runPoolThread(workerData as PoolThreadData);
