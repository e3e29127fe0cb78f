/** The storage contract of Dify 1.3.0's `BaseStorage` (api/extensions/storage/base_storage.py). */
export interface BaseStorage {
  save(key: string, data: Buffer): Promise<void>;
  loadOnce(key: string): Promise<Buffer>;
  /**
   * A generator, as in Dify: nothing is checked before the first chunk is pulled, so a missing
   * object surfaces only once a caller (the file-preview response) has started streaming.
   */
  loadStream(key: string): AsyncGenerator<Buffer, void, undefined>;
  download(key: string, targetPath: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  close(): void;
}

/** The `storage` facade of api/extensions/ext_storage.py. */
export class Storage {
  constructor(
    readonly type: string,
    private readonly impl: BaseStorage,
  ) {}

  save(key: string, data: Buffer): Promise<void> {
    return this.impl.save(key, data);
  }
  load(key: string, stream: true): AsyncGenerator<Buffer, void, undefined>;
  load(key: string, stream?: false): Promise<Buffer>;
  load(key: string, stream = false): Promise<Buffer> | AsyncGenerator<Buffer, void, undefined> {
    return stream ? this.impl.loadStream(key) : this.impl.loadOnce(key);
  }
  loadOnce(key: string): Promise<Buffer> {
    return this.impl.loadOnce(key);
  }
  loadStream(key: string): AsyncGenerator<Buffer, void, undefined> {
    return this.impl.loadStream(key);
  }
  download(key: string, targetPath: string): Promise<void> {
    return this.impl.download(key, targetPath);
  }
  exists(key: string): Promise<boolean> {
    return this.impl.exists(key);
  }
  delete(key: string): Promise<void> {
    return this.impl.delete(key);
  }
  close(): void {
    this.impl.close();
  }
}
