// Parses LogQL expressions with Grafana's own grammar (@grafana/lezer-logql), one process per batch.
// stdin: JSON {"expressions": [...], "nodes": bool}; stdout: JSON [{errors: [[from, to]], nodes?: [[name, from, to]]}]
import { parser } from "@grafana/lezer-logql";

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const results = request.expressions.map((expr) => {
    const tree = parser.parse(expr);
    const errors = [];
    const nodes = [];
    tree.iterate({
      enter(node) {
        if (node.type.isError) errors.push([node.from, node.to]);
        if (request.nodes) nodes.push([node.type.name, node.from, node.to]);
      },
    });
    return request.nodes ? { errors, nodes } : { errors };
  });
  process.stdout.write(JSON.stringify(results));
});
