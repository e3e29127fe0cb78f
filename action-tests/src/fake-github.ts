import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGitHub {
  /** `github.api_url` for the workflow runner. */
  apiUrl: string;
  /** Every request: path and Authorization header. */
  requests: { url: string; auth: string }[];
  /** What the next requests get. */
  answer: { status: number; body: unknown };
  close(): Promise<void>;
}

/** An environment with required reviewers, as GET /repos/{o}/{r}/environments/{name} returns it. */
export const REVIEWED_ENVIRONMENT = {
  name: 'dify-cutover',
  protection_rules: [
    { id: 1, type: 'wait_timer', wait_timer: 0 },
    { id: 2, type: 'required_reviewers', reviewers: [{ type: 'User' }] },
  ],
};

/** GitHub's REST API as far as the workflow's environment check reads it, on loopback. */
export async function startFakeGitHub(): Promise<FakeGitHub> {
  const gh: FakeGitHub = {
    apiUrl: '',
    requests: [],
    answer: { status: 200, body: REVIEWED_ENVIRONMENT },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    gh.requests.push({ url: req.url ?? '', auth: req.headers.authorization ?? '' });
    res.writeHead(gh.answer.status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(gh.answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  gh.apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return gh;
}
