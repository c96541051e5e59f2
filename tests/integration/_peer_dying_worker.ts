// Test fixture for PieceWriter: a piece Worker that throws on its first job (an uncaught error kills it).

(self as unknown as { onmessage: (e: MessageEvent) => void }).onmessage = () => {
  throw new Error("fixture worker dies on purpose");
};
