// kernel/drivers: devices, the public face (the coherent-buffer device behind /dev/vbuf).

export { VbufDevice } from './vbuf.ts';
