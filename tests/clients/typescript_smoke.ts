// Herald through openapi-fetch, typed by openapi-typescript.
//
// Run by tests/e2e/generated_clients.rs, which generates `herald-api.d.ts`
// from openapi/openapi.json into a temporary directory (mapped to the module
// name "herald-api" by the tsconfig it writes there), type-checks this file
// with tsc (strict), and runs the output with node against a live server:
//
//   HERALD_URL=http://127.0.0.1:8080 HERALD_OPERATOR_KEY=hop_… node smoke.js
//
// Every request and response below is typed by the generated `paths`: a
// wrong path, parameter or field is a compile error, not a runtime one.

import createClient from "openapi-fetch";
import type { components, paths } from "herald-api";

type Problem = components["schemas"]["Problem"];

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`typescript client: FAILED: ${what}`);
  }
}

/** The body of a success, or a failure naming the problem that came instead. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, status: number, what: string): T {
  check(
    result.response.status === status && result.data !== undefined,
    `${what}: expected ${status}, got ${result.response.status} ${JSON.stringify(result.error)}`,
  );
  return result.data;
}

function client(baseUrl: string, key: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });
}

async function main(): Promise<void> {
  const base = process.env["HERALD_URL"];
  const operatorKey = process.env["HERALD_OPERATOR_KEY"];
  check(base !== undefined && operatorKey !== undefined, "HERALD_URL and HERALD_OPERATOR_KEY are set");
  const operator = client(base, operatorKey);

  const tenant = ok(await operator.POST("/v1/tenants", { body: { name: "ts-client" } }), 201, "create tenant");
  const tenantPath = { path: { tenant: tenant.id } };
  const adminKey = ok(
    await operator.POST("/v1/tenants/{tenant}/keys", { params: tenantPath, body: { name: "admin", scopes: ["admin"] } }),
    201,
    "create admin key",
  );
  const admin = client(base, adminKey.secret);
  const publishKey = ok(
    await admin.POST("/v1/tenants/{tenant}/keys", { params: tenantPath, body: { name: "backend", scopes: ["publish"] } }),
    201,
    "create publish key",
  );
  check(publishKey.scopes.length === 1 && publishKey.scopes[0] === "publish", `scopes ${JSON.stringify(publishKey.scopes)}`);
  const publisher = client(base, publishKey.secret);

  const channel = ok(
    await admin.POST("/v1/tenants/{tenant}/channels", { params: tenantPath, body: { name: "orders" } }),
    201,
    "create channel",
  );
  check(channel.name === "orders", `channel ${JSON.stringify(channel)}`);

  const channelPath = { tenant: tenant.id, channel: "orders" };
  const ids: number[] = [];
  for (let i = 0; i < 5; i++) {
    const published = ok(
      await publisher.POST("/v1/tenants/{tenant}/channels/{channel}/notifications", {
        params: { path: channelPath },
        body: { type: i % 2 ? "order.paid" : "order.shipped", data: { order: 1000 + i } },
      }),
      201,
      "publish",
    );
    // One schema answers 201 (an id) and 200 (a plugin withheld it: no id).
    check(typeof published.id === "number", `publish: ${JSON.stringify(published)}`);
    ids.push(published.id);
  }

  // Page through the channel's history, newest first, two at a time.
  const seen: number[] = [];
  const orders: unknown[] = [];
  let after: string | undefined;
  let pages = 0;
  for (;;) {
    const page = ok(
      await admin.GET("/v1/tenants/{tenant}/channels/{channel}/notifications", {
        params: { path: channelPath, query: after === undefined ? { limit: 2 } : { limit: 2, after } },
      }),
      200,
      "channel history",
    );
    pages += 1;
    for (const item of page.items) {
      check(item.channel === "orders" && item.recipients == null, `item ${JSON.stringify(item)}`);
      seen.push(item.id);
      orders.push((item.data as { order?: unknown }).order);
    }
    if (page.next == null) {
      break;
    }
    after = page.next;
    check(pages < 10, "history paging ends");
  }
  const newestFirst = [...ids].reverse();
  check(JSON.stringify(seen) === JSON.stringify(newestFirst), `history ${JSON.stringify(seen)}, expected ${JSON.stringify(newestFirst)}`);
  check(JSON.stringify(orders) === "[1004,1003,1002,1001,1000]", `history data ${JSON.stringify(orders)}`);
  check(pages === 3, `5 items in pages of 2: ${pages} pages`);

  const paid = ok(
    await admin.GET("/v1/tenants/{tenant}/channels/{channel}/notifications", {
      params: { path: channelPath, query: { type: "order.paid" } },
    }),
    200,
    "filtered history",
  );
  check(JSON.stringify(paid.items.map((n) => n.id)) === JSON.stringify([ids[3], ids[1]]), "type filter");

  // A problem+json error, typed as the spec's Problem.
  const duplicate = await operator.POST("/v1/tenants", { body: { name: "ts-client" } });
  check(duplicate.response.status === 409 && duplicate.error !== undefined, `duplicate tenant: ${duplicate.response.status}`);
  const problem: Problem = duplicate.error;
  check(problem.type === "urn:herald:problem:conflict" && problem.status === 409, `problem ${JSON.stringify(problem)}`);
  check(duplicate.response.headers.get("content-type") === "application/problem+json", "problem content type");

  const denied = await publisher.GET("/v1/tenants/{tenant}/channels/{channel}/notifications", { params: { path: channelPath } });
  check(denied.error?.type === "urn:herald:problem:forbidden", `forbidden: ${JSON.stringify(denied.error)}`);

  console.log(`typescript client: ok (tenant ${tenant.id}, ids ${JSON.stringify(ids)}, ${pages} history pages, 409 ${problem.type})`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
