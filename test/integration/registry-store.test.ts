/** The shared store contract, run against RemoteRepository on a real docker-registry (a fresh repository per test). */
import { RemoteRepository } from '../../src/registry/repository.js';
import { uniqueRepository, useRegistry } from '../helpers/registry-harness.js';
import { describeStoreContract } from '../helpers/store-contract.js';

const registry = useRegistry();

describeStoreContract('RemoteRepository (docker-registry 2.8)', () =>
  Promise.resolve({ store: new RemoteRepository({ registry: registry().host, repository: uniqueRepository('contract') }) }),
);
