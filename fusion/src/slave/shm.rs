//! Shared memory blocks in the world's pools, and skirmish locks in its lock table.

use super::*;

impl Slave {
    /// Allocates in a writable pool (accounted to us, reclaimed when we leave or die);
    /// read-only pools (master state) give [`Error::Access`].
    pub fn shm_alloc(&mut self, pool: PoolId, size: usize, zeroed: bool) -> Result<ShmHandle> {
        match self.request(Request::ShmAlloc {
            pool,
            size: size as u64,
            zeroed,
        })? {
            Response::Block(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Resizes an allocation (contents kept).
    pub fn shm_realloc(&mut self, block: ShmHandle, size: usize) -> Result<ShmHandle> {
        match self.request(Request::ShmRealloc {
            block,
            size: size as u64,
        })? {
            Response::Block(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    /// Frees an allocation.
    pub fn shm_free(&mut self, block: ShmHandle) -> Result<()> {
        self.unit(Request::ShmFree(block))
    }

    /// The mapping of a pool (opened on first use).
    pub fn pool_map(&mut self, pool: PoolId) -> Result<Arc<Mapping>> {
        if let Some((_, m)) = self.pools.get(&pool) {
            return Ok(m.clone());
        }
        let (resp, mut fds) = self.request_fds(Request::PoolOpen(pool), &[])?;
        let (Response::Pool(info), Some(fd)) = (resp, fds.pop()) else {
            return Err(Error::Malformed("pool answer without its fd".into()));
        };
        let len = sys::fd_size(fd.as_fd())?;
        let map = Arc::new(Mapping::new(fd.as_fd(), len, info.writable)?);
        self.pools.insert(pool, (info, map.clone()));
        Ok(map)
    }

    /// Reads a block's bytes.
    pub fn shm_read(&mut self, block: ShmHandle) -> Result<Vec<u8>> {
        let map = self.pool_map(block.pool)?;
        let mut out = vec![0; block.len as usize];
        if !map.read(block.offset as usize, &mut out) {
            return Err(Error::Invalid("block outside its pool".into()));
        }
        Ok(out)
    }

    /// Writes bytes into a block of a writable pool.
    pub fn shm_write(&mut self, block: ShmHandle, at: usize, data: &[u8]) -> Result<()> {
        let map = self.pool_map(block.pool)?;
        if at + data.len() > block.len as usize || !map.write(block.offset as usize + at, data) {
            return Err(Error::Access(
                "block not writable here or out of bounds".into(),
            ));
        }
        Ok(())
    }

    /// Creates a lock (skirmish) in the world's lock table.
    pub fn skirmish_create(&mut self, name: &str) -> Result<Skirmish> {
        let idx = self.id_of(Request::SkirmishCreate(name.into()), SkirmishId)?;
        self.skirmish_open(idx)
    }

    /// Opens an existing lock by its index.
    pub fn skirmish_open(&mut self, index: SkirmishId) -> Result<Skirmish> {
        let map = self.pool_map(crate::master::LOCK_POOL)?;
        Skirmish::new(map, self.lock_table, index, self.id)
    }

    /// Destroys a lock we created.
    pub fn skirmish_destroy(&mut self, index: SkirmishId) -> Result<()> {
        self.unit(Request::SkirmishDestroy(index))
    }
}
