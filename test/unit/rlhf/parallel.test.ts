// The data-parallel suite on a single-threaded backend: wasm, or cpu when
// CRLHF_BACKEND=cpu asks for it.
import { initBackend } from '../../../rlhf/backend.js';
import { parallelSuite } from './parallel-suite.js';

await initBackend(process.env.CRLHF_BACKEND === 'cpu' ? 'cpu' : 'wasm');
parallelSuite();
