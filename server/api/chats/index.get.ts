export default defineEventHandler(async (event) => {
  const owner = await useIdentity(event)
  return chatStore.list(owner)
})
