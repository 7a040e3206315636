import { perMapEntry, perResidentPage } from './memory.bench.ts';
console.log('per page', perResidentPage(65536).toFixed(1));
console.log('per entry', perMapEntry(100000).toFixed(1));
