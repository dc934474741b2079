import { describe, expect, test } from "bun:test";
import { SendWindow } from "./send-window.ts";

/** The slots `take` grants, whether at once or later; "pending" if still waiting after the microtasks ran. */
async function settle(granted: number | Promise<number>): Promise<number | "pending"> {
  if (typeof granted === "number") return granted;
  return Promise.race([granted, Bun.sleep(0).then(() => "pending" as const)]);
}

describe("SendWindow", () => {
  test("grants in bulk what is free, never more than its size in flight", async () => {
    const window = new SendWindow(100);
    expect(window.take(30)).toBe(30);
    expect(window.take(200)).toBe(70);
    expect(window.inFlight).toBe(100);
    const waiting = window.take(50);
    expect(await settle(waiting)).toBe("pending");
    window.release(100);
    expect(await waiting).toBe(50);
    expect(window.inFlight).toBe(50);
  });

  test("a waiter wakes once an eighth of the window is free, not per freed slot", async () => {
    const window = new SendWindow(80); // wakes at 10
    expect(window.take(80)).toBe(80);
    const waiting = window.take(40);
    for (let i = 0; i < 9; i++) window.release(1);
    expect(await settle(waiting)).toBe("pending");
    window.release(1);
    expect(await waiting).toBe(10);
    // one that wants fewer than that wakes as soon as they are free
    const small = window.take(3);
    window.release(2);
    expect(await settle(small)).toBe("pending");
    window.release(1);
    expect(await small).toBe(3);
  });

  test("first come, first served: a later take waits behind an earlier one even when it would fit", async () => {
    const window = new SendWindow(16); // wakes at 2
    expect(window.take(16)).toBe(16);
    const order: string[] = [];
    const first = Promise.resolve(window.take(10)).then((n) => order.push(`first ${n}`));
    const second = window.take(1);
    void Promise.resolve(second).then((n) => order.push(`second ${n}`));
    window.release(1); // enough for the second, not for the first: nobody wakes
    expect(await settle(second)).toBe("pending");
    window.release(15);
    await first;
    await second;
    expect(order).toEqual(["first 10", "second 1"]);
    expect(window.inFlight).toBe(11);
  });
});
