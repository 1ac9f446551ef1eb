// Starts GraphiQL against the gateway that served this page: queries and mutations go to /graphql, subscriptions
// to /graphql/ws (graphql-transport-ws). GraphiQL sends the headers typed in its Headers tab with every HTTP
// request and in the payload of the WebSocket's connection_init, which is where the gateway reads a token from.
(function () {
  'use strict';
  var http = new URL('/graphql', window.location.href);
  var ws = new URL('/graphql/ws', window.location.href);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  var firstQuery = [
    '# Welcome to dvc-gateway.',
    '# Run this query with ▶ (or Ctrl-Enter): it needs no token.',
    '#',
    '# Staff and citizens need a token, for example:',
    '#   cargo run -q -- token --role OFFICER --unit 49 --sub officer-1',
    '# then, in the Headers tab below:',
    '#   {"Authorization": "Bearer <the token>"}',
    '# Every example of the README runs against the demo data.',
    '{',
    '  indicators(unitCode: "49", period: { year: 2024 }) {',
    '    unitCode total grade',
    '    groups { key score maxScore }',
    '  }',
    '}',
    ''
  ].join('\n');
  var gateway = GraphiQL.createFetcher({ url: http.toString(), subscriptionUrl: ws.toString() });
  // GraphiQL's introspection nests type references deeper than the gateway lets a query go (MAX_QUERY_DEPTH):
  // the gateway answers it here instead, from the schema alone (not served when introspection is off).
  var fetcher = function (params, options) {
    if (params.operationName === 'IntrospectionQuery') {
      return fetch(new URL('/graphiql/schema.json', window.location.href)).then(function (r) {
        return r.json();
      });
    }
    return gateway(params, options);
  };
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: firstQuery,
      defaultEditorToolsVisibility: true
    })
  );
})();
