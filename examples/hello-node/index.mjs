// Greets event.name (default: world) with the GREETING environment variable, and says which Node.js ran it.
export const handler = async (event, context) => {
  const name = event?.name ?? "world";
  console.log(`greeting ${name}`);
  return {
    message: `${process.env.GREETING ?? "Hello"}, ${name}!`,
    runtime: process.env.AWS_EXECUTION_ENV,
    node: process.version,
    requestId: context.awsRequestId,
  };
};
