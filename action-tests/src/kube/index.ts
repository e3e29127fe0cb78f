/** The fake Kubernetes world of the proving ground: an API server and a pod simulator. */
export type { FakeApiServer, FakeApiServerOptions } from './api-server.js';
export { startFakeApiServer } from './api-server.js';
export type {
  DeleteOptions,
  FieldValidation,
  ListOptions,
  WriteOptions,
  WriteResult,
} from './api-operations.js';
export { KubeApi } from './api-operations.js';
export type {
  ContainerContext,
  ContainerMount,
  ContainerRuntime,
  ProcessSpec,
  Simulator,
  SimulatorEvent,
  SimulatorOptions,
} from './simulator.js';
export { freePort, pinnedNode, startSimulator, templateHash } from './simulator.js';
export type { EventType, KubeObject, OwnerReference, StoreEvent, StoreListener } from './store.js';
export { ObjectStore } from './store.js';
export type { ResourceType } from './resources.js';
export { RESOURCES, resolveResource } from './resources.js';
export { KubeStatusError } from './status-errors.js';
export type { Grant, PolicyRule, RequestAttributes } from './rbac.js';
export { forbiddenMessage, rbacPolicy, requestVerb, ruleAllows, rulesAllow } from './rbac.js';
export type { StatusBody, StatusCause } from './status-errors.js';
