// A CRI client as the kubelet is one: the runtime.v1 RuntimeService and ImageService over gRPC on
// a unix socket, from test/cri/runtime-v1.proto (the fields the CRI test uses, with the published
// API's names and numbers). Messages keep the API's snake_case field names; enums are their names;
// int64 fields are numbers.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROJECT } from './berth-cli.js';

const PROTO = join(PROJECT, 'test/cri/runtime-v1.proto');

export type Message = Record<string, unknown>;
type Unary = (request: Message, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, response: Message) => void) => void;

export interface CriClient {
  /** A RuntimeService call (`RunPodSandbox`, `ExecSync`...), with a deadline. */
  runtime<T = Message>(method: string, request: Message, deadlineMs?: number): Promise<T>;
  image<T = Message>(method: string, request: Message, deadlineMs?: number): Promise<T>;
  close(): void;
}

export function criClient(socket: string): CriClient {
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: true });
  const api = (grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: Record<string, grpc.ServiceClientConstructor> } }).runtime.v1;
  const address = `unix://${socket}`;
  const runtimeService = new api.RuntimeService(address, grpc.credentials.createInsecure());
  const imageService = new api.ImageService(address, grpc.credentials.createInsecure());
  const call = (client: grpc.Client, method: string, request: Message, deadlineMs: number) =>
    new Promise<never>((resolve, reject) => {
      const fn = (client as unknown as Record<string, Unary>)[method];
      if (typeof fn !== 'function') throw new Error(`CRI: no method ${method} in ${PROTO}`);
      fn.call(client, request, { deadline: Date.now() + deadlineMs }, (err, response) => (err ? reject(new Error(`CRI ${method}: ${err.details || err.message}`, { cause: err })) : resolve(response as never)));
    });
  return {
    runtime: (method, request, deadlineMs = 60_000) => call(runtimeService, method, request, deadlineMs),
    image: (method, request, deadlineMs = 60_000) => call(imageService, method, request, deadlineMs),
    close() {
      runtimeService.close();
      imageService.close();
    },
  };
}
