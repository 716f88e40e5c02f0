import type { EventId, EventStore, JSONRPCMessage, StreamId } from '@modelcontextprotocol/server';

/**
 * An in-memory, bounded `EventStore` for the SDK's Streamable HTTP transport: it lets a client
 * that lost its SSE stream resume with `Last-Event-ID` (SEP-1699). It keeps the newest
 * `maxEvents` events; older ones are forgotten (a resume past them replays nothing).
 */
export class MemoryEventStore implements EventStore {
  readonly #events = new Map<EventId, { streamId: StreamId; message: JSONRPCMessage }>();
  readonly #maxEvents: number;
  #next = 0;

  /** @param maxEvents events kept, newest first out last (default 1,000). */
  constructor(maxEvents = 1000) {
    this.#maxEvents = maxEvents;
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    // Zero-padded so that ids of one store sort in the order they were stored.
    const eventId = `${streamId}_${String(this.#next++).padStart(12, '0')}`;
    this.#events.set(eventId, { streamId, message });
    if (this.#events.size > this.#maxEvents) this.#events.delete(this.#events.keys().next().value as EventId);
    return eventId;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return this.#events.get(eventId)?.streamId ?? eventId.slice(0, eventId.lastIndexOf('_'));
  }

  async replayEventsAfter(lastEventId: EventId, { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> }): Promise<StreamId> {
    const streamId = await this.getStreamIdForEventId(lastEventId);
    if (streamId === undefined) return '';
    for (const [eventId, event] of this.#events) {
      if (event.streamId === streamId && eventId > lastEventId) await send(eventId, event.message);
    }
    return streamId;
  }
}
