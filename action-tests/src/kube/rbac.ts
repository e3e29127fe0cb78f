/**
 * What RBAC sees of a request, and the RBAC authorizer's decision for a set of Role rules, as
 * kube-apiserver makes them (k8s.io/apiserver pkg/endpoints/request/requestinfo.go for the
 * attributes; plugin/pkg/auth/authorizer/rbac/rbac.go RuleAllows for the decision). Discovery
 * and /version are non-resource URLs every authenticated user may read (system:discovery).
 */

export interface RequestAttributes {
  /** The kubeconfig user the token belongs to. */
  user: string;
  verb: string;
  apiGroup: string;
  /** `statefulsets`, or `statefulsets/scale` for a subresource (as Roles name them). */
  resource: string;
  namespace: string | undefined;
  /** Empty for create, list, watch and deletecollection: resourceNames cannot restrict those. */
  name: string;
}

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The verb of a resource request: GET is get, list or watch; DELETE without a name deletecollection. */
export function requestVerb(method: string, named: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return watch ? 'watch' : named ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return named ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

const has = (list: string[] | undefined, v: string) =>
  (list ?? []).includes('*') || (list ?? []).includes(v);

/** RuleAllows: group, resource (with its subresource), verb, and resourceNames when given. */
export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.apiGroup)) return false;
  if (!has(rule.resources, a.resource)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== '' && names.includes(a.name));
}

export function rulesAllow(rules: PolicyRule[], a: RequestAttributes): boolean {
  return rules.some((r) => ruleAllows(r, a));
}

/** The message kube-apiserver gives a denied request (Status reason Forbidden, code 403). */
export function forbiddenMessage(a: RequestAttributes, qualified: string): string {
  const what = a.name ? `${qualified} "${a.name}"` : qualified;
  const [resource, sub] = a.resource.split('/');
  const where = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
  return (
    `${what} is forbidden: User "${a.user}" cannot ${a.verb} resource "${resource}"` +
    `${sub ? ` with subresource "${sub}"` : ''} in API group "${a.apiGroup}"${where}`
  );
}

interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/** One rule of one Role, flattened to what a request can use: group, resource, verb, names. */
export interface Grant {
  user: string;
  role: string;
  apiGroup: string;
  resource: string;
  verb: string;
  resourceNames: string[];
}

/**
 * The authorizer of a set of RBAC objects (Roles, ClusterRoles and their bindings to
 * ServiceAccounts, as `kubectl apply -f` would create them): what each ServiceAccount user
 * (`system:serviceaccount:<ns>:<name>`) is granted, and whether a request is allowed.
 */
export function rbacPolicy(objects: RbacObject[]): {
  allows: (a: RequestAttributes) => boolean;
  grants: Grant[];
} {
  const roles = new Map(
    objects
      .filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
      .map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]),
  );
  const bound: { user: string; namespace: string | undefined; role: RbacObject }[] = [];
  for (const b of objects.filter(
    (o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding',
  )) {
    const ns = b.kind === 'RoleBinding' ? b.metadata.namespace : undefined;
    const refNs = b.roleRef!.kind === 'Role' ? (ns ?? '') : '';
    const role = roles.get(`${b.roleRef!.kind}/${refNs}/${b.roleRef!.name}`);
    if (!role)
      throw new Error(`${b.kind} ${b.metadata.name} refers to a missing ${b.roleRef!.kind}`);
    for (const s of b.subjects ?? []) {
      if (s.kind === 'ServiceAccount')
        bound.push({ user: `system:serviceaccount:${s.namespace}:${s.name}`, namespace: ns, role });
    }
  }
  const grants = bound.flatMap(({ user, role }) =>
    (role.rules ?? []).flatMap((r) =>
      (r.apiGroups ?? []).flatMap((g) =>
        (r.resources ?? []).flatMap((res) =>
          r.verbs.map((verb) => ({
            user,
            role: role.metadata.name,
            apiGroup: g,
            resource: res,
            verb,
            resourceNames: r.resourceNames ?? [],
          })),
        ),
      ),
    ),
  );
  const allows = (a: RequestAttributes) =>
    bound.some(
      (b) =>
        b.user === a.user &&
        (b.namespace === undefined || b.namespace === a.namespace) &&
        rulesAllow(b.role.rules ?? [], a),
    );
  return { allows, grants };
}
