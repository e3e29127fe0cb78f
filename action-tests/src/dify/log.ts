/**
 * Log lines in Dify's format (`LOG_FORMAT` of api/configs/feature): tests and operators grep
 * them as evidence, e.g. "Using ak and sk for S3". Dify's logging handler writes to stdout.
 */
function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function timestamp(d = new Date()): string {
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`
  );
}

export type LogLevel = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

/** `where` is the Python source location Dify would print, e.g. `aws_s3_storage.py:29`. */
export function log(level: LogLevel, where: string, message: string): void {
  process.stdout.write(`${timestamp()} ${level} [MainThread] [${where}] - ${message}\n`);
}

/** A Python exception as Dify raises it: its qualified class name travels with the message. */
export class PythonError extends Error {
  constructor(
    /** e.g. `botocore.exceptions.EndpointConnectionError` */
    readonly pythonType: string,
    message: string,
  ) {
    super(message);
    this.name = pythonType.split('.').pop() ?? pythonType;
  }
}

/** `FileNotFoundError("File not found")` as raised by Dify's storage classes. */
export class FileNotFoundError extends PythonError {
  constructor(message = 'File not found') {
    super('FileNotFoundError', message);
  }
}

/** `botocore.exceptions.ClientError` with the message boto3 formats from the HTTP answer. */
export class ClientError extends PythonError {
  constructor(
    readonly code: string,
    readonly operation: string,
    readonly reason: string,
  ) {
    super(
      'botocore.exceptions.ClientError',
      `An error occurred (${code}) when calling the ${operation} operation: ${reason}`,
    );
  }
}

/**
 * Prints a Python-like traceback to stderr, the way an uncaught exception ends a Dify process;
 * the last line (`<type>: <message>`) is what a pod's termination message shows.
 */
export function printTraceback(frames: string[], error: unknown): void {
  const lines = ['Traceback (most recent call last):'];
  for (const frame of frames) lines.push(`  File "${frame}"`);
  if (error instanceof PythonError) lines.push(`${error.pythonType}: ${error.message}`);
  else if (error instanceof Error) lines.push(`Exception: ${error.message}`);
  else lines.push(`Exception: ${String(error)}`);
  process.stderr.write(lines.join('\n') + '\n');
}
