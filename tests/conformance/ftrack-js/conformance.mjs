// Drive the official ftrack JavaScript client (@ftrack/api, unchanged)
// against a server given by FTRACK_SERVER / FTRACK_API_USER / FTRACK_API_KEY
// and print one JSON object describing what it saw. The pytest wrapper
// (tests/integration/test_sim_official_js.py) asserts on it and on the
// simulator's request log.
import { Session } from "@ftrack/api";

const UNMANAGED = "cb268ecc-8809-11e3-a7e2-20c9d081909b";
const out = {};

async function main() {
  const server = process.env.FTRACK_SERVER;
  const user = process.env.FTRACK_API_USER;
  const key = process.env.FTRACK_API_KEY;

  // A bad key must surface as the server's error, not a hang or a crash.
  try {
    const bad = new Session(server, user, "not-the-key", { autoConnectEventHub: false });
    await bad.initializing;
    out.bad_key = { ok: true };
  } catch (e) {
    out.bad_key = { ok: false, name: e.name || e.errorCode || "", message: String(e.message) };
  }

  const session = new Session(server, user, key, { autoConnectEventHub: false });
  await session.initializing;
  out.schema_count = session.schemas.length;
  out.schema_hash = session.serverInformation.schema_hash;
  out.server_version = session.serverInformation.version;

  const locations = await session.query("select id, name from Location");
  out.location_names = locations.data.map((l) => l.name).sort();

  // Page through every version three at a time, as a client without a
  // paging helper must: follow metadata.next.offset until it is null.
  const ids = [];
  let offset = 0;
  let pages = 0;
  for (;;) {
    const page = await session.query(
      `select id, version, asset.name from AssetVersion order by id offset ${offset} limit 3`);
    pages++;
    for (const v of page.data) ids.push(v.id);
    if (page.metadata.next.offset === null) break;
    offset = page.metadata.next.offset;
    if (pages > 100000) throw new Error("paging never ended");
  }
  out.version_pages = pages;
  out.version_ids = ids;
  const all = await session.query("select id from AssetVersion");
  out.version_total = all.data.length;

  // Publish a file component on ftrack.unmanaged, the tutorial's workflow.
  const version = all.data[0];
  const comp = await session.create("FileComponent", {
    name: "conformance", file_type: ".exr", size: 42, version_id: version.id,
  });
  out.created_component = {
    type: comp.data.__entity_type__, id: comp.data.id, name: comp.data.name,
    size: comp.data.size, system_type: comp.data.system_type,
  };
  const cl = await session.create("ComponentLocation", {
    component_id: comp.data.id, location_id: UNMANAGED,
    resource_identifier: "/storage/conformance/it's \"here\".exr",
  });
  out.created_component_location = cl.data.id;
  const back = await session.query(
    `select resource_identifier, component.name, location.name from ComponentLocation ` +
    `where component_id is "${comp.data.id}"`);
  out.component_location_rows = back.data.map((r) => ({
    resource_identifier: r.resource_identifier,
    component_name: r.component.name,
    location_name: r.location.name,
  }));

  await session.update("FileComponent", [comp.data.id], { name: "renamed" });
  const renamed = await session.query(`select name from Component where id is "${comp.data.id}"`);
  out.renamed = renamed.data.map((c) => ({ type: c.__entity_type__, name: c.name }));

  await session.delete("ComponentLocation", [cl.data.id]);
  const gone = await session.query(
    `select id from ComponentLocation where component_id is "${comp.data.id}"`);
  out.after_delete = gone.data.length;

  // One batch through call(): results line up with operations.
  const batch = await session.call([
    { action: "query", expression: "select id from Project limit 1" },
    { action: "query", expression: "select id from Location where name is \"ftrack.unmanaged\"" },
  ]);
  out.batch = batch.map((r) => ({ action: r.action, n: r.data.length }));

  // A failing batch is atomic and reported as the server's exception.
  try {
    await session.call([
      { action: "create", entity_type: "FileComponent",
        entity_data: { __entity_type__: "FileComponent", name: "atomic", version_id: version.id } },
      { action: "query", expression: "select nonsense from" },
    ]);
    out.atomic = { ok: true };
  } catch (e) {
    out.atomic = { ok: false, name: e.name || "" };
  }
  const atomic = await session.query(`select id from FileComponent where name is "atomic"`);
  out.atomic_rows = atomic.data.length;
}

main().then(
  () => { process.stdout.write(JSON.stringify(out) + "\n"); },
  (e) => {
    out.error = String(e && e.stack ? e.stack : e);
    process.stdout.write(JSON.stringify(out) + "\n");
    process.exitCode = 1;
  });
