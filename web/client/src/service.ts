// The seed's SocketService, kept as a singleton so existing screens port with few changes.
import { HubClient, type HubClientOptions } from "./client.js";

export class SocketService extends HubClient {
  private static instance: SocketService | null = null;

  static getInstance(): SocketService {
    SocketService.instance ??= new SocketService();
    return SocketService.instance;
  }

  /** Disconnects and drops the singleton, so the next getInstance() starts afresh (tests). */
  static resetInstance(): void {
    SocketService.instance?.disconnect();
    SocketService.instance = null;
  }

  /** The seed took (userId, userRole); the hub authenticates by token, so options instead. */
  override connect(options?: Partial<HubClientOptions>): Promise<void> {
    return super.connect(options);
  }
}

/** The seed's accessor. */
export function getSocketService(): SocketService {
  return SocketService.getInstance();
}
