import { describe, expect, it } from '@jest/globals';
import { describePods, rolloutStatus, type Workload } from '../src/index.js';

function deployment(
  spec: Record<string, unknown>,
  status: Record<string, unknown>,
  generation = 2,
  annotations?: Record<string, string>,
): Workload {
  return {
    kind: 'Deployment',
    metadata: { name: 'dify-api', generation, ...(annotations ? { annotations } : {}) },
    spec,
    status,
  };
}

function sts(
  spec: Record<string, unknown>,
  status: Record<string, unknown>,
  generation = 2,
): Workload {
  return { kind: 'StatefulSet', metadata: { name: 'dify-api', generation }, spec, status };
}

describe('rolloutStatus for a Deployment (kubectl DeploymentStatusViewer)', () => {
  it('waits until the spec update is observed', () => {
    expect(rolloutStatus(deployment({ replicas: 1 }, { observedGeneration: 1 }))).toEqual({
      done: false,
      message: 'Waiting for deployment spec update to be observed...',
    });
  });

  it('fails on ProgressDeadlineExceeded', () => {
    const d = deployment(
      { replicas: 1 },
      {
        observedGeneration: 2,
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      },
    );
    expect(rolloutStatus(d)).toEqual({
      done: false,
      message: 'deployment "dify-api" exceeded its progress deadline',
      error: 'deployment "dify-api" exceeded its progress deadline',
    });
  });

  it('ignores other Progressing reasons', () => {
    const d = deployment(
      { replicas: 1 },
      {
        observedGeneration: 2,
        replicas: 1,
        updatedReplicas: 1,
        availableReplicas: 1,
        conditions: [{ type: 'Progressing', reason: 'NewReplicaSetAvailable' }],
      },
    );
    expect(rolloutStatus(d).done).toBe(true);
  });

  it('waits for new replicas to be updated', () => {
    expect(
      rolloutStatus(deployment({ replicas: 3 }, { observedGeneration: 2, updatedReplicas: 1 }))
        .message,
    ).toBe(
      'Waiting for deployment "dify-api" rollout to finish: 1 out of 3 new replicas have been updated...',
    );
  });

  it('waits for old replicas to terminate', () => {
    expect(
      rolloutStatus(
        deployment({ replicas: 2 }, { observedGeneration: 2, replicas: 3, updatedReplicas: 2 }),
      ).message,
    ).toBe(
      'Waiting for deployment "dify-api" rollout to finish: 1 old replicas are pending termination...',
    );
  });

  it('waits for updated replicas to be available (missing ints count as 0)', () => {
    expect(
      rolloutStatus(
        deployment({ replicas: 2 }, { observedGeneration: 2, replicas: 2, updatedReplicas: 2 }),
      ).message,
    ).toBe(
      'Waiting for deployment "dify-api" rollout to finish: 0 of 2 updated replicas are available...',
    );
  });

  it('is done when all replicas are updated and available; readyReplicas does not matter', () => {
    expect(
      rolloutStatus(
        deployment(
          { replicas: 2 },
          {
            observedGeneration: 2,
            replicas: 2,
            updatedReplicas: 2,
            availableReplicas: 2,
            readyReplicas: 0,
          },
        ),
      ),
    ).toEqual({ done: true, message: 'deployment "dify-api" successfully rolled out' });
  });

  it('is done at zero replicas', () => {
    expect(rolloutStatus(deployment({ replicas: 0 }, { observedGeneration: 2 })).done).toBe(true);
  });

  it('checks the revision when one is asked for', () => {
    const d = deployment({ replicas: 0 }, { observedGeneration: 2 }, 2, {
      'deployment.kubernetes.io/revision': '3',
    });
    expect(rolloutStatus(d, 3).done).toBe(true);
    expect(rolloutStatus(d, 2).error).toBe(
      'desired revision (2) is different from the running revision (3)',
    );
    expect(rolloutStatus(deployment({}, {}), 1).error).toBe(
      'cannot get the revision of deployment "dify-api"',
    );
  });
});

describe('rolloutStatus for a StatefulSet (kubectl StatefulSetStatusViewer)', () => {
  it('cannot track OnDelete (done, with an error)', () => {
    expect(rolloutStatus(sts({ updateStrategy: { type: 'OnDelete' } }, {}))).toEqual({
      done: true,
      message: 'rollout status is only available for RollingUpdate strategy type',
      error: 'rollout status is only available for RollingUpdate strategy type',
    });
  });

  it('waits while observedGeneration is 0 or behind', () => {
    const msg = 'Waiting for statefulset spec update to be observed...';
    expect(rolloutStatus(sts({ replicas: 1 }, { observedGeneration: 0 }, 0)).message).toBe(msg);
    expect(rolloutStatus(sts({ replicas: 1 }, { observedGeneration: 1 }, 2)).message).toBe(msg);
  });

  it('waits for pods to be ready', () => {
    expect(
      rolloutStatus(sts({ replicas: 3 }, { observedGeneration: 2, readyReplicas: 1 })).message,
    ).toBe('Waiting for 2 pods to be ready...');
  });

  it('waits for a partitioned roll out, then reports it complete', () => {
    const spec = {
      replicas: 3,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 1 } },
    };
    expect(
      rolloutStatus(sts(spec, { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 1 })),
    ).toEqual({
      done: false,
      message:
        'Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...',
    });
    expect(
      rolloutStatus(sts(spec, { observedGeneration: 2, readyReplicas: 3, updatedReplicas: 2 })),
    ).toEqual({
      done: true,
      message: 'partitioned roll out complete: 2 new pods have been updated...',
    });
  });

  it('treats a rollingUpdate block without partition as complete (as kubectl does)', () => {
    const spec = {
      replicas: 1,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
    };
    expect(
      rolloutStatus(
        sts(spec, {
          observedGeneration: 2,
          readyReplicas: 1,
          updatedReplicas: 0,
          currentRevision: 'a',
          updateRevision: 'b',
        }),
      ).done,
    ).toBe(true);
  });

  it('waits until the update revision is the current one', () => {
    const spec = { replicas: 1, updateStrategy: { type: 'RollingUpdate' } };
    expect(
      rolloutStatus(
        sts(spec, {
          observedGeneration: 2,
          readyReplicas: 1,
          updatedReplicas: 0,
          currentRevision: 'a',
          updateRevision: 'b',
        }),
      ),
    ).toEqual({
      done: false,
      message: 'waiting for statefulset rolling update to complete 0 pods at revision b...',
    });
    expect(
      rolloutStatus(
        sts(spec, {
          observedGeneration: 2,
          readyReplicas: 1,
          currentReplicas: 1,
          currentRevision: 'b',
          updateRevision: 'b',
        }),
      ),
    ).toEqual({
      done: true,
      message: 'statefulset rolling update complete 1 pods at revision b...',
    });
  });

  it('refuses other kinds', () => {
    expect(() => rolloutStatus({ kind: 'DaemonSet' })).toThrow(
      'rollout status is not supported for kind "DaemonSet"',
    );
  });
});

describe('describePods', () => {
  it('names waiting reasons and the last termination message', () => {
    const lines = describePods([
      {
        metadata: { name: 'dify-api-7d9-abcde' },
        status: {
          phase: 'Running',
          containerStatuses: [
            {
              name: 'api',
              restartCount: 4,
              state: {
                waiting: {
                  reason: 'CrashLoopBackOff',
                  message: 'back-off 40s restarting failed container',
                },
              },
              lastState: {
                terminated: {
                  exitCode: 1,
                  reason: 'Error',
                  message: 'botocore.exceptions.EndpointConnectionError\n',
                },
              },
            },
          ],
        },
      },
      {
        metadata: { name: 'ok' },
        status: { phase: 'Running', containerStatuses: [{ name: 'api', state: { running: {} } }] },
      },
      { metadata: { name: 'pending' }, status: { phase: 'Pending' } },
    ]);
    expect(lines).toEqual([
      'pod dify-api-7d9-abcde container api: CrashLoopBackOff (back-off 40s restarting failed container) restarts=4 last exit 1 Error: botocore.exceptions.EndpointConnectionError',
      'pod pending: Pending',
    ]);
  });
});
